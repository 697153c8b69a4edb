"""The registry facade resolves services, refs and view names into typed views, once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from feast import (
    Entity,
    FeatureService,
    FeatureStore,
    FeatureView,
    Field,
    FileSource,
    KafkaSource,
    RepoConfig,
    StreamFeatureView,
    ValueType,
)
from feast.aggregation import Aggregation
from feast.data_format import JsonFormat
from feast.types import Float64, Int64, String

from featurestore.definitions import rights
from featurestore.errors import FeatureStoreError, ObjectNotFoundError, RetrievalError
from featurestore.registry import (
    FeatureRefError,
    Registry,
    normalised_ttl,
    parse_ref,
    refs_by_view,
    resolve_view,
)

TERMS = rights(license="CC0-1.0", pii="none", purposes="training,serving")
card = Entity(name="card", join_keys=["card_id"], value_type=ValueType.INT64)
merchant = Entity(name="merchant", join_keys=["merchant_id"], value_type=ValueType.STRING)


def payments_objects(data: Path) -> list[object]:
    history = FileSource(
        name="payments_history",
        path=str(data / "payments.parquet"),
        timestamp_field="paid_at",
        created_timestamp_column="loaded_at",
        tags=TERMS,
    )
    stream = KafkaSource(
        name="payments_stream",
        kafka_bootstrap_servers="localhost:9092",
        topic="payments",
        timestamp_field="paid_at",
        message_format=JsonFormat(schema_json="card_id bigint, amount double, paid_at timestamp"),
        batch_source=history,
        watermark_delay_threshold=timedelta(minutes=1),
        tags=TERMS,
    )
    profiles = FeatureView(
        name="merchant_profile",
        entities=[merchant],
        ttl=timedelta(0),
        schema=[Field(name="category", dtype=String), Field(name="risk", dtype=Float64)],
        source=FileSource(
            name="merchants",
            path=str(data / "merchants.parquet"),
            timestamp_field="updated_at",
            tags=TERMS,
        ),
        online=False,
        tags=TERMS,
    )
    aggregations = [
        Aggregation(column="amount", function="sum", time_window=timedelta(minutes=10)),
        Aggregation(column="amount", function="count", time_window=timedelta(hours=1)),
    ]
    spend = StreamFeatureView(
        name="card_spend",
        entities=[card],
        ttl=timedelta(hours=1),
        schema=[
            Field(name="card_id", dtype=Int64),
            Field(name="amount_sum_10m", dtype=Float64),
            Field(name="payments_1h", dtype=Int64),
        ],
        source=stream,
        aggregations=aggregations,
        timestamp_field="paid_at",
        tags=TERMS,
    )
    service = FeatureService(
        name="fraud_model", features=[spend[["payments_1h"]], profiles], tags=TERMS
    )
    return [card, merchant, history, stream, profiles, spend, service]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    root = tmp_path_factory.mktemp("payments")
    config = RepoConfig(
        project="payments",
        registry=str(root / "registry.db"),
        provider="local",
        online_store={"type": "sqlite", "path": str(root / "online.db")},
        entity_key_serialization_version=3,
    )
    config.repo_path = root
    store = FeatureStore(config=config)
    store.apply(payments_objects(root))  # type: ignore[arg-type]
    return Registry(store)


def test_a_service_resolves_into_typed_views_with_source_ttl_and_aggregations(
    registry: Registry,
) -> None:
    resolved = registry.resolve("fraud_model")

    spend, profile = resolved.views
    assert resolved.service_name == "fraud_model"
    assert resolved.refs == (
        "card_spend:payments_1h",
        "merchant_profile:category",
        "merchant_profile:risk",
    )
    assert (spend.name, spend.kind, spend.ttl, spend.online) == (
        "card_spend",
        "stream",
        timedelta(hours=1),
        True,
    )
    assert [(k.name, k.value_type) for k in spend.join_keys] == [("card_id", ValueType.INT64)]
    assert [(f.name, f.value_type) for f in spend.features] == [("payments_1h", ValueType.INT64)]
    assert [(a.column, a.function, a.time_window) for a in spend.aggregations] == [
        ("amount", "sum", timedelta(minutes=10)),
        ("amount", "count", timedelta(hours=1)),
    ]
    assert spend.topic == "payments"
    assert spend.location is not None
    assert spend.location.path == str(registry.repo_path / "payments.parquet")
    assert (spend.timestamp_field, spend.created_timestamp_field) == ("paid_at", "loaded_at")
    assert spend.tags == TERMS
    assert (profile.kind, profile.ttl, profile.online, profile.aggregations) == (
        "batch",
        None,
        False,
        (),
    )
    assert [(k.name, k.value_type) for k in profile.join_keys] == [
        ("merchant_id", ValueType.STRING)
    ]
    assert profile.feature_names == ("category", "risk")


def test_refs_select_features_and_a_policy_adds_rights(registry: Registry) -> None:
    resolved = registry.resolve(
        ["merchant_profile:risk", "card_spend:amount_sum_10m", "merchant_profile:risk"],
        policy=registry.policy(registered={}),
    )

    assert resolved.service is None
    assert resolved.refs == ("merchant_profile:risk", "card_spend:amount_sum_10m")
    assert [view.rights.terms.purposes for view in resolved.views if view.rights] == [
        ("serving", "training"),
        ("serving", "training"),
    ]
    source = resolved.views[1].view_source()
    assert (source.name, source.join_keys, source.features, source.ttl) == (
        "card_spend",
        ("card_id",),
        ("amount_sum_10m",),
        timedelta(hours=1),
    )


def test_batch_and_stream_views_are_listed_once_by_name(registry: Registry) -> None:
    assert sorted(view.name for view in registry.feature_views()) == [
        "card_spend",
        "merchant_profile",
    ]
    assert [view.name for view in registry.feature_views(online=True)] == ["card_spend"]
    assert [view.kind for view in registry.views(["merchant_profile", "card_spend"])] == [
        "batch",
        "stream",
    ]


def test_stream_views_are_selected_by_name_or_topic(registry: Registry) -> None:
    assert [view.name for view in registry.stream_views()] == ["card_spend"]
    assert [view.name for view in registry.stream_views(topic="payments")] == ["card_spend"]
    assert registry.stream_views(topic="refunds") == []
    with pytest.raises(RetrievalError, match="`merchant_profile` are batch views"):
        registry.stream_views(["merchant_profile", "card_spend"])


def test_unknown_objects_raise_one_not_found_error_with_close_names(registry: Registry) -> None:
    with pytest.raises(ObjectNotFoundError) as view:
        registry.resolve(["card_spnd:payments_1h"])
    with pytest.raises(ObjectNotFoundError) as service:
        registry.resolve("fraud_modl")
    with pytest.raises(ObjectNotFoundError) as feature:
        registry.resolve(["card_spend:amount"])

    assert str(view.value) == (
        "feature view `card_spnd` does not exist in project `payments`; did you mean "
        "`card_spend`? Otherwise check the name, or run `featurestore apply` to register it."
    )
    assert "feature service `fraud_modl` does not exist" in str(service.value)
    assert "did you mean `fraud_model`?" in str(service.value)
    assert str(feature.value) == (
        "feature `card_spend:amount` does not exist; `card_spend` has amount_sum_10m, payments_1h."
    )
    errors: list[FeatureStoreError] = [view.value, service.value, feature.value]
    assert {error.error_kind for error in errors} == {"not_found"}


@pytest.mark.parametrize("ref", ["card_spend", ":x", "card_spend:", ""])
def test_malformed_refs_are_refused(ref: str) -> None:
    with pytest.raises(FeatureRefError, match=f"`{ref}` is not of the form `view:feature`"):
        parse_ref(ref)


def test_refs_group_by_view_in_first_seen_order() -> None:
    assert refs_by_view(["b:x", "a:y", "b:z"]) == {"b": ["x", "z"], "a": ["y"]}
    assert parse_ref("v:f:g") == ("v", "f:g")


@pytest.mark.parametrize(
    ("ttl", "normalised"),
    [
        (None, None),
        (timedelta(0), None),
        (timedelta(seconds=-1), None),
        (timedelta(minutes=5), timedelta(minutes=5)),
    ],
)
def test_a_zero_or_missing_ttl_means_no_expiry(
    ttl: timedelta | None, normalised: timedelta | None
) -> None:
    assert normalised_ttl(ttl) == normalised


def test_a_projection_renames_the_view_and_its_join_keys(tmp_path: Path) -> None:
    objects = payments_objects(tmp_path)
    spend = objects[5]
    assert isinstance(spend, StreamFeatureView)
    renamed = spend.with_name("payer_spend").with_join_key_map({"card_id": "payer_card"})

    resolved = resolve_view(renamed, ["payments_1h"], tmp_path)

    source = resolved.view_source()
    assert (resolved.name, resolved.view_name, resolved.refs) == (
        "payer_spend",
        "card_spend",
        ("card_spend:payments_1h",),
    )
    assert (source.name, source.spine_keys) == ("payer_spend", ("payer_card",))
