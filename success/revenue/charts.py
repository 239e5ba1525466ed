"""Server-side SVG for the retention report: no script, no external host (the CSP allows neither)."""

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 16, 36
SERIES = (("grr", "GRR", "#b45309"), ("nrr", "NRR", "#1d4ed8"))


def _n(value: float) -> str:
    return f"{value:.1f}"


def retention_chart(months: list[dict]) -> SafeString:
    """GRR and NRR per month as two lines, in percent; a month without a cohort (no starting ARR) is a gap."""
    values = [float(m[key]) * 100 for m in months for key, _label, _colour in SERIES if m[key] is not None]
    if not months or not values:
        return format_html('<p class="help">{}</p>', "No starting ARR in these months: nothing to chart.")
    # The axis spans the values (monthly retention sits near 100 %: a 0-based axis would flatten it).
    span = max(values) - min(values)
    tick = 2 if span <= 8 else 5 if span <= 20 else 10 if span <= 50 else 20
    bottom = max(0.0, (min(values) // tick - 1) * tick)
    top = (max(values) // tick + 1) * tick
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(1, len(months) - 1) if len(months) > 1 else 0

    def x(i: int) -> float:
        return LEFT + (i * step if len(months) > 1 else plot_w / 2)

    def y(v: float) -> float:
        return TOP + plot_h * (1 - (v - bottom) / (top - bottom))

    grid = format_html_join(
        "",
        '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#e5e7eb"/>'
        '<text x="{}" y="{}" font-size="11" text-anchor="end" fill="#6b7280">{}%</text>',
        (
            (LEFT, _n(y(v)), WIDTH - RIGHT, _n(y(v)), LEFT - 6, _n(y(v) + 4), int(v))
            for v in range(int(bottom), int(top) + 1, tick)
        ),
    )
    labels = format_html_join(
        "",
        '<text x="{}" y="{}" font-size="11" text-anchor="middle" fill="#374151">{}</text>',
        ((_n(x(i)), HEIGHT - BOTTOM + 16, m["start"].strftime("%b %y")) for i, m in enumerate(months)),
    )
    lines = []
    for key, label, colour in SERIES:
        segments, current = [], []
        for i, m in enumerate(months):
            if m[key] is None:
                if current:
                    segments.append(current)
                current = []
                continue
            current.append((x(i), y(float(m[key]) * 100), label, m["start"].strftime("%b %Y"), float(m[key]) * 100))
        if current:
            segments.append(current)
        for segment in segments:
            points = " ".join(f"{px:.1f},{py:.1f}" for px, py, *_ in segment)
            polyline = '<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>'
            lines.append(format_html(polyline, points, colour))
            lines.append(
                format_html_join(
                    "",
                    '<circle cx="{}" cy="{}" r="3" fill="{}"><title>{} {}: {}%</title></circle>',
                    ((_n(px), _n(py), colour, name, month, _n(pct)) for px, py, name, month, pct in segment),
                )
            )
    legend = format_html_join(
        "",
        '<rect x="{}" y="{}" width="12" height="3" fill="{}"/><text x="{}" y="{}" font-size="12" fill="#111827">'
        "{}</text>",
        (
            (LEFT + 10 + i * 70, TOP + 4, colour, LEFT + 26 + i * 70, TOP + 9, label)
            for i, (_k, label, colour) in enumerate(SERIES)
        ),
    )
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" viewBox="0 0 {} {}" role="img" '
        'aria-label="GRR and NRR by month" id="retention-chart">{}{}{}{}</svg>',
        WIDTH,
        HEIGHT,
        WIDTH,
        HEIGHT,
        grid,
        labels,
        format_html_join("", "{}", ((line,) for line in lines)),
        legend,
    )
