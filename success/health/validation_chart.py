"""Server-side SVG for the health model validation report (churn rate per band by month): no script, no external
host (the CSP allows neither)."""

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 24, 36
SERIES = (("red", "Red", "#b91c1c"), ("yellow", "Yellow", "#ca8a04"), ("green", "Green", "#15803d"))


def _n(value: float) -> str:
    return f"{value:.1f}"


def churn_rate_chart(months: list[dict]) -> SafeString:
    """The churn rate within 90 days of each month start, one line per band, in percent; a month without
    customers in a band is a gap in its line."""
    values = [
        float(m["bands"][key]["churn_rate"]) * 100
        for m in months
        for key, _label, _colour in SERIES
        if m["bands"][key]["churn_rate"] is not None
    ]
    if not months or not values:
        return format_html('<p class="help">{}</p>', "No scored customers in these months: nothing to chart.")
    top = max(10, -(-max(values) // 10) * 10)  # up to the next 10 %
    tick = 10 if top <= 50 else 20
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / (len(months) - 1) if len(months) > 1 else 0

    def x(i: int) -> float:
        return LEFT + (i * step if len(months) > 1 else plot_w / 2)

    def y(v: float) -> float:
        return TOP + plot_h * (1 - v / top)

    grid = format_html_join(
        "",
        '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#e5e7eb"/>'
        '<text x="{}" y="{}" font-size="11" text-anchor="end" fill="#6b7280">{}%</text>',
        ((LEFT, _n(y(v)), WIDTH - RIGHT, _n(y(v)), LEFT - 6, _n(y(v) + 4), v) for v in range(0, int(top) + 1, tick)),
    )
    labels = format_html_join(
        "",
        '<text x="{}" y="{}" font-size="11" text-anchor="middle" fill="#374151">{}</text>',
        ((_n(x(i)), HEIGHT - BOTTOM + 16, m["month"].strftime("%b %y")) for i, m in enumerate(months)),
    )
    lines = []
    for key, label, colour in SERIES:
        segments, current = [], []
        for i, m in enumerate(months):
            rate = m["bands"][key]["churn_rate"]
            if rate is None:
                if current:
                    segments.append(current)
                current = []
                continue
            pct = float(rate) * 100
            current.append((x(i), y(pct), label, m["month"].strftime("%b %Y"), pct, m["bands"][key]["customers"]))
        if current:
            segments.append(current)
        for segment in segments:
            points = " ".join(f"{px:.1f},{py:.1f}" for px, py, *_ in segment)
            lines.append(
                format_html('<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>', points, colour)
            )
            lines.append(
                format_html_join(
                    "",
                    '<circle cx="{}" cy="{}" r="3" fill="{}"><title>{} {}: {}% of {} churned</title></circle>',
                    ((_n(px), _n(py), colour, name, month, _n(pct), n) for px, py, name, month, pct, n in segment),
                )
            )
    legend = format_html_join(
        "",
        '<rect x="{}" y="{}" width="12" height="3" fill="{}"/><text x="{}" y="{}" font-size="12" fill="#111827">'
        "{}</text>",
        (
            (LEFT + 10 + i * 80, 8, colour, LEFT + 26 + i * 80, 13, label)
            for i, (_k, label, colour) in enumerate(SERIES)
        ),
    )
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" viewBox="0 0 {} {}" role="img" '
        'aria-label="Churn rate within 90 days by band and month" id="validation-chart">{}{}{}{}</svg>',
        WIDTH,
        HEIGHT,
        WIDTH,
        HEIGHT,
        grid,
        labels,
        format_html_join("", "{}", ((line,) for line in lines)),
        legend,
    )
