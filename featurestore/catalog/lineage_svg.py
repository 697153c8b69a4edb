"""Draw a lineage neighbourhood as SVG on the server: one column per kind, left to right."""

from __future__ import annotations

from collections.abc import Callable
from xml.sax.saxutils import escape, quoteattr

from featurestore.catalog.entries import ObjectKind
from featurestore.catalog.lineage import Lineage

COLUMNS = (
    ObjectKind.data_source,
    ObjectKind.feature_view,
    ObjectKind.feature,
    ObjectKind.feature_service,
    ObjectKind.training_set,
    ObjectKind.model,
)
NODE_WIDTH, NODE_HEIGHT = 190, 44
COLUMN_GAP, ROW_GAP, MARGIN, HEADER = 60, 14, 16, 26
MAX_LABEL = 24
# Inline so the SVG looks the same on a page and when fetched on its own.
STYLE = (
    "<style>"
    ".column{font:600 11px system-ui,sans-serif;fill:#5b6675;text-transform:uppercase}"
    ".edge{fill:none;stroke:#9aa6b5;stroke-width:1.5}"
    ".node rect{fill:#f4f7fb;stroke:#8796a8;stroke-width:1}"
    ".node.root rect{fill:#fff4d6;stroke:#c98a00;stroke-width:2}"
    ".node.data_source rect{fill:#eef6ee}"
    ".node.feature_service rect{fill:#eef0fb}"
    ".node.training_set rect,.node.model rect{fill:#fbeff4}"
    ".node:hover rect{stroke:#1f5fbf;stroke-width:2}"
    ".name{font:600 13px system-ui,sans-serif;fill:#1d2733}"
    ".detail{font:11px system-ui,sans-serif;fill:#5b6675}"
    "</style>"
)


def lineage_svg(lineage: Lineage, link: Callable[[ObjectKind, str], str]) -> str:
    """An `<svg>` element; `link(kind, name)` gives each node's page URL."""
    columns = [kind for kind in COLUMNS if any(n.kind is kind for n in lineage.nodes)]
    position: dict[str, tuple[int, int]] = {}
    rows = 0
    for column, kind in enumerate(columns):
        members = [n for n in lineage.nodes if n.kind is kind]
        for row, node in enumerate(sorted(members, key=lambda n: n.name)):
            x = MARGIN + column * (NODE_WIDTH + COLUMN_GAP)
            y = MARGIN + HEADER + row * (NODE_HEIGHT + ROW_GAP)
            position[node.id] = (x, y)
        rows = max(rows, len(members))
    width = MARGIN * 2 + max(len(columns), 1) * (NODE_WIDTH + COLUMN_GAP) - COLUMN_GAP
    height = MARGIN * 2 + HEADER + max(rows, 1) * (NODE_HEIGHT + ROW_GAP) - ROW_GAP
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="lineage" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f"aria-label={quoteattr(f'Lineage of {lineage.root.kind.label} {lineage.root.name}')}>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#7a8797"/></marker></defs>',
        STYLE,
    ]
    for column, kind in enumerate(columns):
        x = MARGIN + column * (NODE_WIDTH + COLUMN_GAP)
        parts.append(f'<text class="column" x="{x}" y="{MARGIN + 12}">{escape(kind.label)}s</text>')
    for edge in lineage.edges:
        (x1, y1), (x2, y2) = position[edge.source], position[edge.target]
        start_x, start_y = x1 + NODE_WIDTH, y1 + NODE_HEIGHT // 2
        end_x, end_y = x2, y2 + NODE_HEIGHT // 2
        bend = (end_x - start_x) / 2
        parts.append(
            f'<path class="edge" d="M{start_x},{start_y} C{start_x + bend},{start_y} '
            f'{end_x - bend},{end_y} {end_x},{end_y}" marker-end="url(#arrow)"/>'
        )
    for node in lineage.nodes:
        x, y = position[node.id]
        label = node.name if len(node.name) <= MAX_LABEL else node.name[: MAX_LABEL - 1] + "…"
        root = " root" if node.id == lineage.root.id else ""
        detail = node.detail or node.kind.label
        parts.append(
            f"<a href={quoteattr(link(node.kind, node.name))}>"
            f'<g class="node {node.kind.value}{root}"><title>{escape(node.name)}</title>'
            f'<rect x="{x}" y="{y}" width="{NODE_WIDTH}" height="{NODE_HEIGHT}" rx="6"/>'
            f'<text x="{x + 10}" y="{y + 18}" class="name">{escape(label)}</text>'
            f'<text x="{x + 10}" y="{y + 35}" class="detail">{escape(detail)}</text></g></a>'
        )
    parts.append("</svg>")
    return "".join(parts)
