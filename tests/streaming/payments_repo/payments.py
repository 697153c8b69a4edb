"""Card payments: per-card spend on the card-keyed topic, per-merchant activity repartitioned."""

import os
from datetime import timedelta

from feast import Aggregation, Entity, Field, FileSource, KafkaSource, StreamFeatureView, ValueType
from feast.data_format import JsonFormat
from feast.types import Float64, Int64

from featurestore.definitions import data_path, event_semantics, rights, semantics

OWNER = "payments-ml@example.org"
SYNTHETIC = rights(license="CC0-1.0", pii="none", purposes="training,serving,analytics,research")
TEN_MINUTES, HOUR = timedelta(minutes=10), timedelta(hours=1)

card = Entity(
    name="card",
    join_keys=["card_id"],
    value_type=ValueType.STRING,
    owner=OWNER,
    description="A payment card, by its token.",
)
merchant = Entity(
    name="merchant",
    join_keys=["merchant_id"],
    value_type=ValueType.STRING,
    owner=OWNER,
    description="A merchant accepting card payments.",
)

payments = KafkaSource(
    name="payments",
    kafka_bootstrap_servers=os.environ.get(
        "FEATURESTORE_KAFKA_BOOTSTRAP_SERVERS", "localhost:9092"
    ),
    topic="payments",
    timestamp_field="event_timestamp",
    message_format=JsonFormat(
        schema_json="payment_id bigint, card_id string, merchant_id string, "
        "event_timestamp timestamp, amount_cents bigint"
    ),
    batch_source=FileSource(
        name="payments_log",
        path=data_path("stream/payments_log.parquet"),
        timestamp_field="event_timestamp",
        created_timestamp_column="created_timestamp",
        owner=OWNER,
        description="Offline log of the payment windows.",
        tags=SYNTHETIC,
    ),
    watermark_delay_threshold=timedelta(minutes=2),
    owner=OWNER,
    description="One event per card payment, keyed by card.",
    tags={
        **SYNTHETIC,
        "message_key": "card_id",
        **event_semantics("payment_id", unit="count", min=1, nullable=False),
        **event_semantics("card_id", nullable=False),
        **event_semantics("merchant_id", nullable=False),
        **event_semantics("amount_cents", unit="cent", min=0, nullable=False),
    },
)


def _field(name: str, dtype: object, unit: str, text: str) -> Field:
    return Field(name=name, dtype=dtype, description=text, tags=semantics(unit=unit, min=0))


card_spend = StreamFeatureView(
    name="card_spend",
    entities=[card],
    ttl=timedelta(hours=2),
    schema=[
        _field("payments_10m", Int64, "count", "Payments of the card in 10 minutes."),
        _field("spend_10m", Int64, "cent", "Amount paid with the card in 10 minutes."),
        _field("mean_amount_10m", Float64, "cent", "Mean payment of the card in 10 minutes."),
        _field("payments_1h", Int64, "count", "Payments of the card in an hour."),
        _field("spend_1h", Int64, "cent", "Amount paid with the card in an hour."),
        _field("mean_amount_1h", Float64, "cent", "Mean payment of the card in an hour."),
    ],
    source=payments,
    aggregations=[
        Aggregation(
            column="payment_id", function="count", time_window=TEN_MINUTES, name="payments_10m"
        ),
        Aggregation(
            column="amount_cents", function="sum", time_window=TEN_MINUTES, name="spend_10m"
        ),
        Aggregation(
            column="amount_cents", function="mean", time_window=TEN_MINUTES, name="mean_amount_10m"
        ),
        Aggregation(column="payment_id", function="count", time_window=HOUR, name="payments_1h"),
        Aggregation(column="amount_cents", function="sum", time_window=HOUR, name="spend_1h"),
        Aggregation(
            column="amount_cents", function="mean", time_window=HOUR, name="mean_amount_1h"
        ),
    ],
    timestamp_field="event_timestamp",
    online=True,
    owner=OWNER,
    description="Spend per card over sliding 10-minute and 1-hour windows.",
    tags=SYNTHETIC,
)

merchant_activity = StreamFeatureView(
    name="merchant_activity",
    entities=[merchant],
    ttl=timedelta(hours=2),
    schema=[
        _field("payments_1h", Int64, "count", "Payments at the merchant in an hour."),
        _field("cards_1h", Int64, "count", "Distinct cards paying at the merchant in an hour."),
    ],
    source=payments,
    aggregations=[
        Aggregation(column="payment_id", function="count", time_window=HOUR, name="payments_1h"),
        Aggregation(column="card_id", function="count_distinct", time_window=HOUR, name="cards_1h"),
    ],
    timestamp_field="event_timestamp",
    online=True,
    owner=OWNER,
    description="Activity per merchant over a sliding hour; the topic is keyed by card, so the "
    "consumer repartitions it by merchant.",
    tags=SYNTHETIC,
)
