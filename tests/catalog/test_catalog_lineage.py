"""Lineage: sources → views → services → training sets → models, per object and per feature."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import pytest
from catalog_factories import make_catalog

from featurestore.catalog.entries import Consumers, ModelEntry, ObjectKind, TrainingSetEntry
from featurestore.catalog.lineage import LineageGraph
from featurestore.catalog.lineage_svg import lineage_svg
from featurestore.catalog.openlineage import RUN_EVENT_SCHEMA, openlineage_events
from featurestore.errors import ObjectNotFoundError

CONSUMERS = Consumers(
    training_sets={
        "delays_2024": TrainingSetEntry(
            name="delays_2024",
            feature_service="model_v1",
            features=("weather:temp", "departures:count"),
            created_at="2024-01-01T00:00:00+00:00",
            purpose="training",
            manifest_path="/data/training/delays_2024/manifest.json",
        ),
        "humidity_only": TrainingSetEntry(
            name="humidity_only",
            feature_service=None,
            features=("weather:humid",),
            created_at="2024-01-02T00:00:00+00:00",
            purpose="training",
            manifest_path="/data/training/humidity_only/manifest.json",
        ),
    },
    models={
        "delay_model": ModelEntry(
            name="delay_model",
            feature_service="model_v1",
            training_set="delays_2024",
            purposes=("serving", "training"),
            owner="ml@example.org",
            description="Predicts delays",
            registered_at="2024-01-03T00:00:00+00:00",
            registered_by="registrar:abc",
        )
    },
)


@pytest.fixture
def graph() -> LineageGraph:
    return LineageGraph.build(make_catalog(), CONSUMERS)


def ids(lineage: object) -> dict[str, int]:
    return dict(lineage.distance)  # type: ignore[attr-defined]


def test_downstream_of_a_source_reaches_the_model(graph: LineageGraph) -> None:
    lineage = graph.lineage(ObjectKind.data_source, "weather_src", "downstream", 10)

    assert ids(lineage) == {
        "data_source:weather_src": 0,
        "feature_view:weather": 1,
        "feature_service:model_v1": 2,
        "training_set:humidity_only": 2,
        "model:delay_model": 3,
        "training_set:delays_2024": 3,
    }


def test_upstream_of_a_model_with_a_depth_limit(graph: LineageGraph) -> None:
    lineage = graph.lineage(ObjectKind.model, "delay_model", "upstream", 2)

    assert ids(lineage) == {
        "feature_view:departures": -2,
        "feature_view:weather": -2,
        "feature_service:model_v1": -1,
        "training_set:delays_2024": -1,
        "model:delay_model": 0,
    }
    assert {(e.source, e.target) for e in lineage.edges} == {
        ("feature_service:model_v1", "model:delay_model"),
        ("training_set:delays_2024", "model:delay_model"),
        ("feature_service:model_v1", "training_set:delays_2024"),
        ("feature_view:weather", "feature_service:model_v1"),
        ("feature_view:departures", "feature_service:model_v1"),
    }


def test_a_feature_follows_only_what_uses_it(graph: LineageGraph) -> None:
    humid = graph.lineage(ObjectKind.feature, "weather:humid", "both", 5)
    temp = graph.lineage(ObjectKind.feature, "weather:temp", "downstream", 5)

    assert ids(humid) == {
        "data_source:weather_src": -2,
        "feature_view:weather": -1,
        "feature:weather:humid": 0,
        "training_set:humidity_only": 1,
    }
    assert ids(temp) == {
        "feature:weather:temp": 0,
        "feature_service:model_v1": 1,
        "model:delay_model": 2,
        "training_set:delays_2024": 2,
    }


def test_unknown_objects_are_named_in_the_error(graph: LineageGraph) -> None:
    with pytest.raises(ObjectNotFoundError, match="feature view `nope` does not exist"):
        graph.lineage(ObjectKind.feature_view, "nope", "both", 2)
    with pytest.raises(ObjectNotFoundError, match="feature `weather` does not exist"):
        graph.lineage(ObjectKind.feature, "weather", "both", 2)


def test_svg_draws_every_node_with_a_link(graph: LineageGraph) -> None:
    lineage = graph.lineage(ObjectKind.feature_service, "model_v1", "both", 3)

    svg = lineage_svg(lineage, lambda kind, name: f"/objects/{kind.value}/{name}")

    assert svg.startswith("<svg") and svg.endswith("</svg>")
    for node in lineage.nodes:
        assert f'href="/objects/{node.kind.value}/{node.name}"' in svg
    assert svg.count('class="edge"') == len(lineage.edges)
    assert 'class="node feature_service root"' in svg


def test_openlineage_has_one_run_event_per_job(graph: LineageGraph) -> None:
    lineage = graph.lineage(ObjectKind.model, "delay_model", "upstream", 5)

    events = openlineage_events(
        lineage, graph, make_catalog(), CONSUMERS, datetime(2024, 1, 5, tzinfo=UTC)
    )

    by_job = {event["job"]["name"]: event for event in events}
    assert sorted(by_job) == [
        "feature_service.model_v1",
        "feature_view.departures",
        "feature_view.weather",
        "model.delay_model",
        "training_set.delays_2024",
    ]
    weather = by_job["feature_view.weather"]
    assert weather["schemaURL"] == RUN_EVENT_SCHEMA
    assert weather["eventType"] == "COMPLETE"
    assert weather["eventTime"] == "2024-01-05T00:00:00+00:00"
    assert UUID(weather["run"]["runId"]).version == 5
    assert weather["inputs"] == [
        {
            "namespace": "file",
            "name": "/data/weather_src.parquet",
            "facets": {
                "documentation": {
                    "_producer": weather["producer"],
                    "_schemaURL": weather["inputs"][0]["facets"]["documentation"]["_schemaURL"],
                    "description": "weather_src data",
                },
                "ownership": {
                    "_producer": weather["producer"],
                    "_schemaURL": weather["inputs"][0]["facets"]["ownership"]["_schemaURL"],
                    "owners": [{"name": "team@example.org", "type": "OWNER"}],
                },
            },
        }
    ]
    schema = weather["outputs"][0]["facets"]["schema"]
    assert [field["name"] for field in schema["fields"]] == ["temp", "humid"]
    model_inputs = {d["name"] for d in by_job["model.delay_model"]["inputs"]}
    assert model_inputs == {"feature_service/model_v1", "training_set/delays_2024"}
