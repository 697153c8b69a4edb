"""The lineage graph: data sources → feature views → feature services → training sets → models.

Edges carry the features that flow along them (None = all), so a single feature's lineage
follows only the services, training sets and models that actually use it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from featurestore.catalog.entries import Catalog, Consumers, ObjectKind
from featurestore.errors import ObjectNotFoundError

Direction = Literal["upstream", "downstream", "both"]


@dataclass(frozen=True)
class Node:
    """One object in the graph; `detail` is its sub-kind (`stream`, `FileSource`, …)."""

    kind: ObjectKind
    name: str
    detail: str = ""

    @property
    def id(self) -> str:
        return node_id(self.kind, self.name)


@dataclass(frozen=True)
class Edge:
    """`source` feeds `target`; `features` are the `view:feature` refs that flow (None: all)."""

    source: str
    target: str
    features: frozenset[str] | None = None

    def carries(self, ref: str | None) -> bool:
        return ref is None or self.features is None or ref in self.features


@dataclass(frozen=True)
class Lineage:
    """The part of the graph within `depth` hops of `root`, in one or both directions."""

    root: Node
    direction: Direction
    depth: int
    nodes: list[Node]
    edges: list[Edge]
    distance: Mapping[str, int] = field(default_factory=dict)


def node_id(kind: ObjectKind | str, name: str) -> str:
    """A node's id, e.g. `feature_view:customer_daily_stats`."""
    return f"{ObjectKind(kind).value}:{name}"


class LineageGraph:
    """Every object of a catalog and its consumers, with the edges between them."""

    def __init__(self, nodes: Iterable[Node], edges: Iterable[Edge]) -> None:
        self.nodes = {node.id: node for node in nodes}
        self.edges = [e for e in edges if e.source in self.nodes and e.target in self.nodes]
        self._out: dict[str, list[Edge]] = {}
        self._in: dict[str, list[Edge]] = {}
        for edge in self.edges:
            self._out.setdefault(edge.source, []).append(edge)
            self._in.setdefault(edge.target, []).append(edge)

    @classmethod
    def build(cls, catalog: Catalog, consumers: Consumers) -> LineageGraph:
        """The graph of a catalog: one node per object, one edge per use."""
        nodes: list[Node] = []
        edges: list[Edge] = []
        for source in catalog.sources.values():
            nodes.append(Node(ObjectKind.data_source, source.name, source.source_type))
        for view in catalog.views.values():
            nodes.append(Node(ObjectKind.feature_view, view.name, view.kind))
            target = node_id(ObjectKind.feature_view, view.name)
            for source_name in dict.fromkeys(
                s for s in (view.stream_source, view.batch_source) if s
            ):
                edges.append(Edge(node_id(ObjectKind.data_source, source_name), target))
            for parent in view.source_views:
                edges.append(Edge(node_id(ObjectKind.feature_view, parent), target))
        for service in catalog.services.values():
            nodes.append(Node(ObjectKind.feature_service, service.name))
            edges.extend(
                _from_views(service.features, node_id(ObjectKind.feature_service, service.name))
            )
        for training_set in consumers.training_sets.values():
            nodes.append(Node(ObjectKind.training_set, training_set.name))
            target = node_id(ObjectKind.training_set, training_set.name)
            if training_set.feature_service:
                service_id = node_id(ObjectKind.feature_service, training_set.feature_service)
                edges.append(Edge(service_id, target, frozenset(training_set.features)))
            else:
                edges.extend(_from_views(training_set.features, target))
        for model in consumers.models.values():
            nodes.append(Node(ObjectKind.model, model.name))
            target = node_id(ObjectKind.model, model.name)
            edges.append(Edge(node_id(ObjectKind.feature_service, model.feature_service), target))
            if model.training_set:
                edges.append(Edge(node_id(ObjectKind.training_set, model.training_set), target))
        return cls(nodes, edges)

    def inputs(self, node: str) -> list[Node]:
        """The nodes that feed `node` directly."""
        return [self.nodes[edge.source] for edge in self._in.get(node, [])]

    def lineage(self, kind: ObjectKind, name: str, direction: Direction, depth: int) -> Lineage:
        """The neighbourhood of one object; a feature is named `view:feature`."""
        if kind is ObjectKind.feature:
            return self._feature_lineage(name, direction, depth)
        root = self.nodes.get(node_id(kind, name))
        if root is None:
            raise ObjectNotFoundError(kind.label, name, "check the name in the catalog search")
        distance: dict[str, int] = {root.id: 0}
        edges: set[Edge] = set()
        if direction in ("upstream", "both"):
            self._walk(root.id, depth, upstream=True, ref=None, distance=distance, edges=edges)
        if direction in ("downstream", "both"):
            self._walk(root.id, depth, upstream=False, ref=None, distance=distance, edges=edges)
        return self._result(root, direction, depth, distance, edges)

    def _feature_lineage(self, ref: str, direction: Direction, depth: int) -> Lineage:
        view_name, _, feature = ref.partition(":")
        view_id = node_id(ObjectKind.feature_view, view_name)
        if view_id not in self.nodes or not feature:
            raise ObjectNotFoundError("feature", ref, "name it as `view:feature`")
        root = Node(ObjectKind.feature, ref, self.nodes[view_id].detail)
        distance: dict[str, int] = {root.id: 0}
        edges: set[Edge] = set()
        if direction in ("upstream", "both") and depth > 0:
            distance[view_id] = -1
            edges.add(Edge(view_id, root.id))
            self._walk(view_id, depth - 1, upstream=True, ref=None, distance=distance, edges=edges)
        if direction in ("downstream", "both") and depth > 0:
            for edge in self._out.get(view_id, []):
                if edge.carries(ref):
                    edges.add(Edge(root.id, edge.target, frozenset({ref})))
                    if edge.target not in distance:
                        distance[edge.target] = 1
                        self._walk(edge.target, depth - 1, False, ref, distance, edges)
        nodes = {**self.nodes, root.id: root}
        return self._result(root, direction, depth, distance, edges, nodes)

    def _walk(
        self,
        start: str,
        depth: int,
        upstream: bool,
        ref: str | None,
        distance: dict[str, int],
        edges: set[Edge],
    ) -> None:
        """Breadth-first from `start` for `depth` hops, recording each node's signed distance."""
        sign = -1 if upstream else 1
        base = abs(distance.get(start, 0))
        queue = deque([(start, 0)])
        while queue:
            current, hops = queue.popleft()
            if hops >= depth:
                continue
            neighbours = self._in.get(current, []) if upstream else self._out.get(current, [])
            for edge in neighbours:
                if not edge.carries(ref):
                    continue
                edges.add(edge)
                other = edge.source if upstream else edge.target
                if other not in distance:
                    distance[other] = sign * (base + hops + 1)
                    queue.append((other, hops + 1))

    def _result(
        self,
        root: Node,
        direction: Direction,
        depth: int,
        distance: dict[str, int],
        edges: set[Edge],
        nodes: Mapping[str, Node] | None = None,
    ) -> Lineage:
        known = nodes or self.nodes
        ordered = sorted(distance, key=lambda n: (distance[n], n))
        kept = [e for e in edges if e.source in distance and e.target in distance]
        return Lineage(
            root=root,
            direction=direction,
            depth=depth,
            nodes=[known[n] for n in ordered],
            edges=sorted(kept, key=lambda e: (e.source, e.target)),
            distance={n: distance[n] for n in ordered},
        )


def _from_views(refs: Iterable[str], target: str) -> list[Edge]:
    by_view: dict[str, set[str]] = {}
    for ref in refs:
        by_view.setdefault(ref.partition(":")[0], set()).add(ref)
    return [
        Edge(node_id(ObjectKind.feature_view, view), target, frozenset(view_refs))
        for view, view_refs in by_view.items()
    ]
