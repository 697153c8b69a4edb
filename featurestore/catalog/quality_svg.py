"""Quality figures drawn as SVG on the server: reference-vs-served histograms overlaid, and a
drift sparkline. Inline styles, so an SVG looks the same on a page and on its own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

if TYPE_CHECKING:
    from featurestore.catalog.quality import FeatureQuality

WIDTH, HEIGHT, MARGIN, AXIS = 360, 140, 8, 18
STYLE = (
    "<style>"
    ".reference{fill:#8796a8;fill-opacity:.55}"
    ".served{fill:#1f5fbf;fill-opacity:.45}"
    ".axis{font:10px system-ui,sans-serif;fill:#5b6675}"
    ".line{fill:none;stroke:#1f5fbf;stroke-width:1.5}"
    ".limit{stroke:#c0392b;stroke-width:1;stroke-dasharray:3 2}"
    "</style>"
)


def histogram_svg(
    labels: Sequence[str], reference: Sequence[int], served: Sequence[int], title: str
) -> str:
    """Bars of each side's share per bin, the served bars drawn over the reference bars."""
    bins = max(len(labels), 1)
    shares = [_shares(reference), _shares(served)]
    top = max([*shares[0], *shares[1], 1e-9])
    inner = HEIGHT - AXIS - MARGIN
    slot = (WIDTH - 2 * MARGIN) / bins
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="quality-histogram" role="img" '
        f'width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}">',
        f"<title>{escape(title)}</title>",
        STYLE,
    ]
    for side, css, offset in ((0, "reference", 0.1), (1, "served", 0.35)):
        for index, share in enumerate(shares[side]):
            height = inner * share / top
            x = MARGIN + slot * index + slot * offset
            parts.append(
                f'<rect class="{css}" x="{x:.1f}" y="{MARGIN + inner - height:.1f}" '
                f'width="{slot * 0.55:.1f}" height="{height:.1f}">'
                f"<title>{escape(labels[index] if index < len(labels) else '')}: "
                f"{css} {share:.1%}</title></rect>"
            )
    if labels:
        parts.append(
            f'<text class="axis" x="{MARGIN}" y="{HEIGHT - 4}">{escape(labels[0][:18])}</text>'
        )
        parts.append(
            f'<text class="axis" x="{WIDTH - MARGIN}" y="{HEIGHT - 4}" text-anchor="end">'
            f"{escape(labels[-1][:18])}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def sparkline_svg(values: Sequence[float | None], limit: float | None, title: str) -> str:
    """A line of the values in order (gaps where None), with a dashed line at `limit`."""
    known = [v for v in values if v is not None]
    top = max([*known, limit or 0.0, 1e-9])
    inner_w, inner_h = WIDTH - 2 * MARGIN, 48
    step = inner_w / max(len(values) - 1, 1)
    height = inner_h + 2 * MARGIN
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="quality-sparkline" role="img" '
        f'width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}">',
        f"<title>{escape(title)}</title>",
        STYLE,
    ]
    if limit is not None:
        y = MARGIN + inner_h - inner_h * limit / top
        parts.append(
            f'<line class="limit" x1="{MARGIN}" x2="{WIDTH - MARGIN}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
    segment: list[str] = []
    for index, value in enumerate([*values, None]):
        if value is None:
            if segment:
                parts.append(f'<polyline class="line" points="{" ".join(segment)}"/>')
            segment = []
            continue
        segment.append(
            f"{MARGIN + step * index:.1f},{MARGIN + inner_h - inner_h * value / top:.1f}"
        )
    parts.append("</svg>")
    return "".join(parts)


def _shares(counts: Sequence[int]) -> list[float]:
    total = sum(counts)
    return [count / total if total else 0.0 for count in counts]


def quality_figures(quality: FeatureQuality) -> dict[str, str | None]:
    """The card's SVGs: `skew_svg` (reference vs served bins) and `drift_svg` (PSI per day)."""
    skew_svg = None
    if quality.distribution is not None:
        skew_svg = histogram_svg(
            quality.distribution.labels,
            quality.distribution.reference,
            quality.distribution.served,
            f"{quality.ref}: training set {quality.training_set} (grey) vs served (blue)",
        )
    drift_svg = None
    if quality.drift_psi:
        drift_svg = sparkline_svg(
            quality.drift_psi,
            quality.psi_threshold,
            f"{quality.ref}: PSI per day against the {quality.drift_reference}",
        )
    return {"skew_svg": skew_svg, "drift_svg": drift_svg}
