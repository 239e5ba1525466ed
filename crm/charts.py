"""Small server-side SVG charts for admin pages (no script, no external host: the CSP allows neither), in the
manner of success.health.charts: a line chart of one or more series, and bars with a percentage line over them.
Each scales to its container (viewBox, width 100%), so a panel never scrolls sideways."""

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH, HEIGHT = 520, 170
LEFT, RIGHT, TOP, BOTTOM = 34, 34, 12, 38
GRID = "#e5e7eb"
MUTED = "#6b7280"


def _n(value: float) -> str:
    return f"{value:.1f}"


def _frame(labels: list[str], aria: str, body: SafeString, legend: list[tuple[str, str]]) -> SafeString:
    plot_w = WIDTH - LEFT - RIGHT
    step = plot_w / max(1, len(labels))
    every = max(1, len(labels) // 6)  # at most ~6 labels under the axis
    axis = format_html_join(
        "",
        '<text x="{}" y="{}" font-size="10" text-anchor="middle" fill="{}">{}</text>',
        (
            (_n(LEFT + step * (i + 0.5)), HEIGHT - BOTTOM + 14, MUTED, label)
            for i, label in enumerate(labels)
            if i % every == 0 or i == len(labels) - 1
        ),
    )
    keys = format_html_join(
        "",
        '<rect x="{}" y="{}" width="10" height="10" fill="{}"/>'
        '<text x="{}" y="{}" font-size="11" fill="#374151">{}</text>',
        (
            (LEFT + 130 * i, HEIGHT - 12, colour, LEFT + 130 * i + 14, HEIGHT - 3, name)
            for i, (name, colour) in enumerate(legend)
        ),
    )
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" width="100%" role="img" aria-label="{}" '
        'class="crm-chart" style="max-width:{}px;height:auto">{}{}{}</svg>',
        WIDTH,
        HEIGHT,
        aria,
        WIDTH,
        body,
        axis,
        keys,
    )


def _grid(y_min: float, y_max: float, y, side: str = "left", suffix: str = "") -> SafeString:
    x_text, anchor = (LEFT - 4, "end") if side == "left" else (WIDTH - RIGHT + 4, "start")
    ticks = (y_min, (y_min + y_max) / 2, y_max)
    return format_html_join(
        "",
        '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="{}"/>'
        '<text x="{}" y="{}" font-size="10" text-anchor="{}" fill="{}">{}{}</text>',
        (
            (LEFT, WIDTH - RIGHT, _n(y(v)), _n(y(v)), GRID, x_text, _n(y(v) + 3), anchor, MUTED, f"{v:g}", suffix)
            for v in ticks
        ),
    )


def line_chart(
    labels: list[str],
    series: list[tuple[str, str, list[float | None]]],
    *,
    y_min: float,
    y_max: float,
    aria: str,
) -> SafeString:
    """`series`: (name, colour, one value or None per label). A None leaves a gap (no answer that month)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(1, len(labels))

    def y(v: float) -> float:
        return TOP + plot_h * (1 - (v - y_min) / ((y_max - y_min) or 1))

    parts = []
    for name, colour, values in series:
        runs, run = [], []
        for i, value in enumerate(values):
            if value is None:
                if run:
                    runs.append(run)
                run = []
            else:
                run.append((LEFT + step * (i + 0.5), y(value), labels[i], value))
        if run:
            runs.append(run)
        for points in runs:
            parts.append(
                format_html(
                    '<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>',
                    " ".join(f"{_n(px)},{_n(py)}" for px, py, _, _ in points),
                    colour,
                )
            )
            parts.append(
                format_html_join(
                    "",
                    '<circle cx="{}" cy="{}" r="3" fill="{}"><title>{} {}: {}</title></circle>',
                    ((_n(px), _n(py), colour, name, label, f"{v:g}") for px, py, label, v in points),
                )
            )
    body = format_html("{}{}", _grid(y_min, y_max, y), format_html_join("", "{}", ((p,) for p in parts)))
    return _frame(labels, aria, body, [(name, colour) for name, colour, _ in series])


def bars_with_rate_chart(
    labels: list[str],
    bars: tuple[str, str, list[int]],
    rate: tuple[str, str, list[float | None]],
    *,
    aria: str,
) -> SafeString:
    """Counts as bars (left axis) and a percentage (0-100, right axis) as a line over them."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(1, len(labels))
    bar_name, bar_colour, counts = bars
    top = max([*counts, 1])

    def y_count(v: float) -> float:
        return TOP + plot_h * (1 - v / top)

    def y_pct(v: float) -> float:
        return TOP + plot_h * (1 - v / 100)

    rects = format_html_join(
        "",
        '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{} {}: {}</title></rect>',
        (
            (
                _n(LEFT + step * i + step * 0.15),
                _n(y_count(count)),
                _n(step * 0.7),
                _n(TOP + plot_h - y_count(count)),
                bar_colour,
                bar_name,
                labels[i],
                count,
            )
            for i, count in enumerate(counts)
        ),
    )
    rate_name, rate_colour, values = rate
    points = [(LEFT + step * (i + 0.5), y_pct(v), labels[i], v) for i, v in enumerate(values) if v is not None]
    line = format_html(
        '<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>{}',
        " ".join(f"{_n(px)},{_n(py)}" for px, py, _, _ in points),
        rate_colour,
        format_html_join(
            "",
            '<circle cx="{}" cy="{}" r="3" fill="{}"><title>{} {}: {}%</title></circle>',
            ((_n(px), _n(py), rate_colour, rate_name, label, f"{v:g}") for px, py, label, v in points),
        ),
    )
    body = format_html("{}{}{}{}", _grid(0, top, y_count), _grid(0, 100, y_pct, side="right", suffix="%"), rects, line)
    return _frame(labels, aria, body, [(bar_name, bar_colour), (rate_name, rate_colour)])
