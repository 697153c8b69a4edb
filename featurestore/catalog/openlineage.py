"""OpenLineage export: one COMPLETE RunEvent per job (view, service, training set, model) whose
inputs and outputs are the datasets around it in a lineage neighbourhood."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from featurestore import __version__
from featurestore.catalog.entries import Catalog, Consumers, ObjectKind
from featurestore.catalog.lineage import Lineage, LineageGraph, Node

PRODUCER = f"urn:featurestore:{__version__}"
SPEC = "https://openlineage.io/spec"
RUN_EVENT_SCHEMA = f"{SPEC}/2-0-2/OpenLineage.json#/$defs/RunEvent"
_FACETS = {
    "schema": f"{SPEC}/facets/1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
    "documentation": (
        f"{SPEC}/facets/1-1-0/DocumentationDatasetFacet.json#/$defs/DocumentationDatasetFacet"
    ),
    "ownership": f"{SPEC}/facets/1-0-1/OwnershipDatasetFacet.json#/$defs/OwnershipDatasetFacet",
    "jobType": f"{SPEC}/facets/2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet",
}
_JOB_KINDS = (
    ObjectKind.feature_view,
    ObjectKind.feature_service,
    ObjectKind.training_set,
    ObjectKind.model,
)


def openlineage_events(
    lineage: Lineage,
    graph: LineageGraph,
    catalog: Catalog,
    consumers: Consumers,
    event_time: datetime,
) -> list[dict[str, Any]]:
    """A RunEvent per job in the neighbourhood, with all its direct inputs as datasets."""
    exporter = _Exporter(catalog, consumers)
    return [
        exporter.event(node, graph.inputs(node.id), event_time)
        for node in lineage.nodes
        if node.kind in _JOB_KINDS
    ]


class _Exporter:
    def __init__(self, catalog: Catalog, consumers: Consumers) -> None:
        self.catalog = catalog
        self.consumers = consumers
        self.namespace = f"featurestore://{catalog.project}"

    def event(self, node: Node, inputs: list[Node], event_time: datetime) -> dict[str, Any]:
        job_name = f"{node.kind.value}.{node.name}"
        return {
            "eventType": "COMPLETE",
            "eventTime": event_time.isoformat(),
            "producer": PRODUCER,
            "schemaURL": RUN_EVENT_SCHEMA,
            "run": {"runId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.namespace}/{job_name}"))},
            "job": {
                "namespace": self.namespace,
                "name": job_name,
                "facets": {
                    "jobType": _facet(
                        "jobType",
                        processingType="STREAMING" if node.detail == "stream" else "BATCH",
                        integration="FEATURESTORE",
                        jobType=node.kind.value.upper(),
                    )
                },
            },
            "inputs": [self.dataset(n) for n in inputs],
            "outputs": [self.dataset(node)],
        }

    def dataset(self, node: Node) -> dict[str, Any]:
        namespace, name = self.namespace, f"{node.kind.value}/{node.name}"
        owner, description, fields = "", "", []
        if node.kind is ObjectKind.data_source:
            source = self.catalog.sources[node.name]
            owner, description = source.owner, source.description
            if source.path:
                namespace, name = "file", source.path
            elif source.topic:
                namespace, name = "kafka", source.topic
        elif node.kind is ObjectKind.feature_view:
            view = self.catalog.views[node.name]
            owner, description = view.owner, view.description
            fields = [
                {"name": f.name, "type": f.dtype, "description": f.description}
                for f in (self.catalog.features[f"{view.name}:{n}"] for n in view.features)
            ]
        elif node.kind is ObjectKind.feature_service:
            service = self.catalog.services[node.name]
            owner, description = service.owner, service.description
            fields = [{"name": ref} for ref in service.features]
        elif node.kind is ObjectKind.training_set:
            training_set = self.consumers.training_sets[node.name]
            fields = [{"name": ref} for ref in training_set.features]
        elif node.kind is ObjectKind.model:
            model = self.consumers.models[node.name]
            owner, description = model.owner, model.description
        facets: dict[str, Any] = {}
        if fields:
            facets["schema"] = _facet("schema", fields=fields)
        if description:
            facets["documentation"] = _facet("documentation", description=description)
        if owner:
            facets["ownership"] = _facet("ownership", owners=[{"name": owner, "type": "OWNER"}])
        return {"namespace": namespace, "name": name, "facets": facets}


def _facet(kind: str, **values: Any) -> dict[str, Any]:
    return {"_producer": PRODUCER, "_schemaURL": _FACETS[kind], **values}
