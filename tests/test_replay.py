"""`featurestore replay --from … --topic … --key …` publishes any table as keyed JSON events."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from kafka import KafkaConsumer, TopicPartition
from typer.testing import CliRunner

from featurestore.cli import app
from featurestore.errors import InvalidInputError
from featurestore.kafka import TOPIC_PARTITIONS
from featurestore.replay import encode_row, replay_table
from streaming.decode import EventDecoder, parse_schema

pytestmark = pytest.mark.integration

START = datetime(2026, 3, 1, 8, 0)


def read_topic(servers: str, topic: str, count: int) -> list[tuple[bytes | None, bytes]]:
    """Every message of the topic, partition by partition in offset order."""
    consumer = KafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False)
    partitions = [TopicPartition(topic, p) for p in range(TOPIC_PARTITIONS)]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    found: list[tuple[int, int, bytes | None, bytes]] = []
    deadline = time.monotonic() + 30
    try:
        while len(found) < count and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=1000).values():
                found.extend((r.partition, r.offset, r.key, r.value) for r in records)
    finally:
        consumer.close()
    return [(key, value) for _, _, key, value in sorted(found)]


@pytest.fixture
def payments(tmp_path: Path) -> Path:
    """Payments in no particular time order; naive times are UTC."""
    path = tmp_path / "payments.parquet"
    minutes = [5, 1, 3, 1, 4]
    pq.write_table(
        pa.table(
            {
                "card_id": [7, 8, 7, 9, 8],
                "amount": [1.5, 2.0, 3.25, 4.0, 5.0],
                "paid_at": pa.array(
                    [START + timedelta(minutes=m) for m in minutes], pa.timestamp("us")
                ),
            }
        ),
        path,
    )
    return path


def test_a_parquet_table_is_published_in_time_order_keyed_and_decodable(
    payments: Path, kafka_bootstrap_servers: str
) -> None:
    topic = f"payments-{uuid.uuid4().hex[:8]}"

    result = replay_table(
        str(payments), kafka_bootstrap_servers, topic=topic, key="card_id", time_column="paid_at"
    )

    messages = read_topic(kafka_bootstrap_servers, topic, 5)
    decoder = EventDecoder(
        parse_schema("card_id bigint, amount double, paid_at timestamp"), {}, "paid_at"
    )
    events = sorted(
        (decoder.decode(value)["paid_at"], key, decoder.decode(value)) for key, value in messages
    )
    micros = int((START.replace(tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds())
    micros *= 1_000_000
    minute = 60_000_000
    assert (result.published, result.first_event, result.last_event) == (
        5,
        START.replace(tzinfo=UTC) + timedelta(minutes=1),
        START.replace(tzinfo=UTC) + timedelta(minutes=5),
    )
    assert [(key, event) for _, key, event in events] == [
        (b"8", {"card_id": 8, "amount": 2.0, "paid_at": micros + minute}),
        (b"9", {"card_id": 9, "amount": 4.0, "paid_at": micros + minute}),
        (b"7", {"card_id": 7, "amount": 3.25, "paid_at": micros + 3 * minute}),
        (b"8", {"card_id": 8, "amount": 5.0, "paid_at": micros + 4 * minute}),
        (b"7", {"card_id": 7, "amount": 1.5, "paid_at": micros + 5 * minute}),
    ]
    # Within a key (one partition), events arrive in event-time order.
    per_key: dict[bytes | None, list[int]] = {}
    for key, value in messages:
        per_key.setdefault(key, []).append(int(decoder.decode(value)["paid_at"]))  # type: ignore[arg-type]
    assert all(times == sorted(times) for times in per_key.values())


def test_a_sql_query_with_a_limit_goes_through_the_command(
    payments: Path, kafka_bootstrap_servers: str
) -> None:
    topic = f"big-payments-{uuid.uuid4().hex[:8]}"
    query = f"SELECT card_id, amount FROM read_parquet('{payments}') WHERE amount > 1.5"

    result = CliRunner().invoke(
        app,
        ["replay", "--from", query, "--topic", topic, "--key", "card_id", "--limit", "2"],
        env={"FEATURESTORE_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap_servers, "COLUMNS": "200"},
    )

    assert result.exit_code == 0, result.output
    assert f"Published 2 events to {topic}" in result.stdout
    assert sorted(read_topic(kafka_bootstrap_servers, topic, 2)) == [
        (b"7", b'{"card_id":7,"amount":3.25}'),
        (b"8", b'{"card_id":8,"amount":2.0}'),
    ]


def test_values_encode_as_json_with_utc_times() -> None:
    aware = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)

    encoded = encode_row(
        ["at", "naive", "price", "name", "missing"],
        [aware, datetime(2026, 3, 1, 9, 30, 0, 250), Decimal("1.25"), "x", None],
    )

    assert encoded == (
        b'{"at":"2026-03-01T09:30:00Z","naive":"2026-03-01T09:30:00.000250Z",'
        b'"price":1.25,"name":"x","missing":null}'
    )


def test_unknown_columns_and_speed_without_time_are_refused(
    payments: Path, kafka_bootstrap_servers: str
) -> None:
    with pytest.raises(InvalidInputError, match="`--key card` names no column"):
        replay_table(str(payments), kafka_bootstrap_servers, topic="t", key="card")
    with pytest.raises(InvalidInputError, match="needs `--time COLUMN`"):
        replay_table(str(payments), kafka_bootstrap_servers, topic="t", key="card_id", speed=10)
    with pytest.raises(InvalidInputError, match="neither a Parquet file"):
        replay_table("payments.csv", kafka_bootstrap_servers, topic="t", key="card_id")
