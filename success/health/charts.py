"""Server-side SVG for health (no script, no external host: the CSP allows neither): the score history with the
band zones behind it, and a coloured band badge."""

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH, HEIGHT = 560, 160
LEFT, RIGHT, TOP, BOTTOM = 36, 12, 10, 26
BAND_COLOURS = {"red": "#dc2626", "yellow": "#ca8a04", "green": "#16a34a"}
ZONE_COLOURS = {"red": "#fee2e2", "yellow": "#fef9c3", "green": "#dcfce7"}


def _n(value: float) -> str:
    return f"{value:.1f}"


def band_badge(band: str | None) -> SafeString:
    """The band as a coloured label ("—" when not scored)."""
    if not band:
        return format_html('<span class="health-band health-band-none">{}</span>', "—")
    return format_html(
        '<span class="health-band health-band-{}" style="display:inline-block;padding:1px 8px;border-radius:9px;'
        'color:#fff;background:{};font-weight:bold">{}</span>',
        band,
        BAND_COLOURS.get(band, "#6b7280"),
        band.capitalize(),
    )


def health_history_chart(history: list[dict], bands: dict) -> SafeString:
    """The score (0-100) per day as a line over the red / yellow / green zones of the current model's bands."""
    if not history:
        return format_html('<p class="help">{}</p>', "No history yet.")
    red_below, green_from = bands.get("red_below", 50), bands.get("green_from", 75)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    first, last = history[0]["day"], history[-1]["day"]
    span = max(1, (last - first).days)

    def x(day) -> float:
        return LEFT + (plot_w * (day - first).days / span if len(history) > 1 else plot_w / 2)

    def y(score: float) -> float:
        return TOP + plot_h * (1 - score / 100)

    zones = format_html_join(
        "",
        '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/>',
        (
            (LEFT, _n(y(high)), plot_w, _n(y(low) - y(high)), ZONE_COLOURS[band])
            for band, low, high in (
                ("red", 0, red_below),
                ("yellow", red_below, green_from),
                ("green", green_from, 100),
            )
            if high > low
        ),
    )
    ticks = format_html_join(
        "",
        '<text x="{}" y="{}" font-size="10" text-anchor="end" fill="#6b7280">{}</text>',
        ((LEFT - 4, _n(y(v) + 3), v) for v in (0, 50, 100)),
    )
    ends = [(first, "start"), (last, "end")] if last != first else [(first, "middle")]
    labels = format_html_join(
        "",
        '<text x="{}" y="{}" font-size="10" text-anchor="{}" fill="#374151">{}</text>',
        ((_n(x(day)), HEIGHT - 8, anchor, day.strftime("%b %d")) for day, anchor in ends),
    )
    points = " ".join(f"{_n(x(p['day']))},{_n(y(p['score']))}" for p in history)
    dots = format_html_join(
        "",
        '<circle cx="{}" cy="{}" r="2.5" fill="{}"><title>{}: {} ({})</title></circle>',
        (
            (
                _n(x(p["day"])),
                _n(y(p["score"])),
                BAND_COLOURS.get(p["band"], "#111827"),
                p["day"].isoformat(),
                p["score"],
                p["band"],
            )
            for p in history
        ),
    )
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" viewBox="0 0 {} {}" role="img" '
        'aria-label="Health score history" class="health-history">{}{}{}'
        '<polyline points="{}" fill="none" stroke="#1f2937" stroke-width="1.5"/>{}</svg>',
        WIDTH,
        HEIGHT,
        WIDTH,
        HEIGHT,
        zones,
        ticks,
        labels,
        points,
        dots,
    )
