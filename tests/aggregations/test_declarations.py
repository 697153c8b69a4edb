"""Aggregations declared on a StreamFeatureView: a wrong declaration fails `apply` with one line
naming the view and the problem; a right one becomes the spec the consumer and backfill run."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from feast import (
    Aggregation,
    Entity,
    Field,
    FileSource,
    KafkaSource,
    StreamFeatureView,
    ValueType,
)
from feast.data_format import JsonFormat
from feast.types import Float64, Int64

from featurestore.aggregations import AggregationSpecError, declaration_problem, window_spec
from featurestore.apply import apply_repo
from featurestore.settings import load_settings

MERCHANT = Entity(name="merchant", join_keys=["merchant_id"], value_type=ValueType.STRING)
SOURCE = KafkaSource(
    name="payments",
    kafka_bootstrap_servers="localhost:1",
    topic="payments",
    timestamp_field="event_timestamp",
    message_format=JsonFormat(
        schema_json="payment_id bigint, card_id string, merchant_id string, "
        "event_timestamp timestamp, amount_cents bigint"
    ),
    batch_source=FileSource(name="log", path="log.parquet", timestamp_field="event_timestamp"),
    watermark_delay_threshold=timedelta(minutes=2),
    tags={"message_key": "card_id"},
)
HOUR = timedelta(hours=1)


def view(
    aggregations: list[Aggregation], fields: dict[str, object] | None = None
) -> StreamFeatureView:
    fields = fields or {a.name: Float64 if a.function == "mean" else Int64 for a in aggregations}
    return StreamFeatureView(
        name="merchant_activity",
        entities=[MERCHANT],
        schema=[Field(name=name, dtype=dtype) for name, dtype in fields.items()],  # type: ignore[arg-type]
        source=SOURCE,
        aggregations=aggregations,
        timestamp_field="event_timestamp",
    )


def test_a_right_declaration_becomes_the_spec() -> None:
    spec = window_spec(
        view(
            [
                Aggregation("payment_id", "count", HOUR, name="payments_1h"),
                Aggregation("card_id", "count_distinct", HOUR, name="cards_1h"),
                Aggregation("amount_cents", "mean", timedelta(minutes=10), name="mean_10m"),
            ]
        ),
        [MERCHANT],
    )

    assert (spec.view, spec.key, spec.allowed_lateness) == (
        "merchant_activity",
        "merchant_id",
        timedelta(minutes=2),
    )
    assert [(a.name, a.function, a.column, a.window) for a in spec.aggregations] == [
        ("payments_1h", "count", "payment_id", HOUR),
        ("cards_1h", "count_distinct", "card_id", HOUR),
        ("mean_10m", "mean", "amount_cents", timedelta(minutes=10)),
    ]


@pytest.mark.parametrize(
    ("aggregation", "fields", "problem"),
    [
        (Aggregation("payment_id", "median", HOUR, name="n"), None, "unknown function `median`"),
        (
            Aggregation("refund_id", "count", HOUR, name="n"),
            None,
            "column `refund_id`, missing from the source schema",
        ),
        (
            Aggregation("payment_id", "count", HOUR, timedelta(minutes=7), name="n"),
            None,
            "is not a multiple of its slide",
        ),
        (
            Aggregation("payment_id", "count", HOUR, name="n"),
            {"payments": Int64},
            "do not match the aggregation names",
        ),
        (Aggregation("card_id", "sum", HOUR, name="n"), None, "needs an integer column"),
    ],
)
def test_a_wrong_declaration_is_named_in_one_line(
    aggregation: Aggregation, fields: dict[str, object] | None, problem: str
) -> None:
    message = declaration_problem(view([aggregation], fields), [MERCHANT])

    assert message is not None
    assert message.startswith("Stream feature view `merchant_activity`: ")
    assert problem in message and "\n" not in message
    with pytest.raises(AggregationSpecError, match=re.escape(problem)):
        window_spec(view([aggregation], fields), [MERCHANT])


@pytest.mark.integration
def test_apply_refuses_a_wrong_declaration_before_registering_anything(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    source = Path(__file__).parents[1] / "streaming" / "payments_repo"
    repo.mkdir()
    (repo / "feature_store.yaml").write_text((source / "feature_store.yaml").read_text())
    definitions = (source / "payments.py").read_text()
    (repo / "payments.py").write_text(definitions.replace('"count_distinct"', '"distinct"'))
    settings = load_settings(data_dir=tmp_path / "data", repo_path=repo)

    with pytest.raises(AggregationSpecError) as raised:
        apply_repo(settings, "redis://127.0.0.1:1/0")

    assert str(raised.value) == (
        "Stream feature view `merchant_activity`: aggregation `cards_1h` uses unknown function "
        "`distinct`; use one of count, sum, mean, min, max, count_distinct, last."
    )
    assert not settings.registry_path.exists()
