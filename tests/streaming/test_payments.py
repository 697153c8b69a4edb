"""A second domain, defined only in a test repo: two stream views on one card-keyed `payments`
topic, one of them keyed by merchant (repartitioned). Online values, the offline log, the batch
backfill and point-in-time lookups over the log all equal a brute-force oracle."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
import redis
from payments_domain import (
    Oracle,
    Payment,
    aligned_order,
    copy_repo,
    make_payments,
    publish,
    topic_order,
)

from featurestore.aggregations import WindowSpec, backfill_sql, window_spec
from featurestore.apply import apply_repo
from featurestore.online.client import OnlineClient
from featurestore.repo import open_store
from featurestore.settings import Settings, load_settings
from streaming.config import StreamOptions
from streaming.offline_log import OfflineLog
from streaming.service import build_consumer, run_consumer

pytestmark = pytest.mark.integration

EVENTS = 400


@pytest.fixture
def payments_settings(tmp_path: Path, redis_url: str) -> Settings:
    repo = copy_repo(tmp_path / "repo")
    settings = load_settings(data_dir=tmp_path / "data", repo_path=repo, redis_url=redis_url)
    redis.Redis.from_url(redis_url).flushdb()
    apply_repo(settings, redis_url)
    return settings


def specs(settings: Settings, redis_url: str) -> dict[str, WindowSpec]:
    store = open_store(settings, redis_url)
    return {view.name: window_spec(view) for view in store.list_stream_feature_views()}


def consume(
    settings: Settings, redis_url: str, servers: str, topic: str, **options: object
) -> None:
    values: dict[str, object] = {
        "bootstrap_servers": servers,
        "topic": topic,
        "group_id": f"{topic}.group",
        "offline_log_dir": settings.data_dir / "stream",
        "stop_when_caught_up": True,
        **options,
    }
    consumer = build_consumer(settings, redis_url, StreamOptions.model_validate(values))
    run_consumer(consumer, handle_signals=False)


def log_rows(settings: Settings, spec: WindowSpec) -> set[tuple[str, int, tuple]]:
    table = OfflineLog(settings.data_dir / "stream" / spec.view, spec).read()
    return {
        (
            row[spec.key],
            int(row[spec.timestamp_field].timestamp() * 1_000_000),
            tuple(row[name] for name in spec.feature_names),
        )
        for row in table.to_pylist()
    }


def online_rows(
    settings: Settings, redis_url: str, spec: WindowSpec, keys: list[str], now: datetime
) -> dict[str, tuple[int, tuple]]:
    store = open_store(settings, redis_url)
    client = redis.Redis.from_url(redis_url)
    try:
        names = [f"{spec.view}:{name}" for name in spec.feature_names]
        result = OnlineClient(store, client).get(names, [{spec.key: k} for k in keys], now=now)
    finally:
        client.close()
    first = spec.feature_names[0]
    return {
        key: (
            int(result.event_timestamps[first][row].timestamp() * 1_000_000),
            tuple(result.values[name][row] for name in spec.feature_names),
        )
        for row, key in enumerate(keys)
    }


def backfill_rows(spec: WindowSpec, arrived: list[Payment]) -> set[tuple[str, int, tuple]]:
    table = pa.table(
        {
            **{
                column: [p.fields()[column] for p in arrived]
                for column in ("payment_id", "card_id", "merchant_id", "amount_cents")
            },
            "t_us": pa.array([p.at_us for p in arrived], pa.int64()),
            "arrival": pa.array(range(len(arrived)), pa.int64()),
        }
    )
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("arrived", table)
    events = "(SELECT *, timezone('UTC', make_timestamp(t_us)) AS event_timestamp FROM arrived)"
    rows = con.sql(backfill_sql(spec, events, "arrival")).fetchall()
    return {(r[0], int(r[1].timestamp() * 1_000_000), tuple(r[3:])) for r in rows}


def point_in_time(
    settings: Settings, spec: WindowSpec, lookups: list[tuple[str, int]]
) -> list[tuple | None]:
    """An ASOF join of (key, time) lookups over the offline log: the latest row at or before."""
    log = OfflineLog(settings.data_dir / "stream" / spec.view, spec)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register(
        "lookups",
        pa.table(
            {
                "n": pa.array(range(len(lookups)), pa.int64()),
                "k": [k for k, _ in lookups],
                "t": pa.array([t for _, t in lookups], pa.int64()),
            }
        ),
    )
    features = ", ".join(f'r."{name}"' for name in spec.feature_names)
    at = "timezone('UTC', make_timestamp(l.t))"
    rows = con.sql(
        f"""SELECT l.n, r."{spec.key}" IS NOT NULL, {features}
        FROM lookups l ASOF LEFT JOIN {log.table_sql()} r
        ON l.k = r."{spec.key}" AND {at} >= r."{spec.timestamp_field}"
        ORDER BY l.n"""
    ).fetchall()
    return [tuple(row[2:]) if row[1] else None for row in rows]


def test_two_views_on_one_topic_one_repartitioned_equal_the_oracle_everywhere(
    payments_settings: Settings, redis_url: str, kafka_bootstrap_servers: str
) -> None:
    topic = f"payments.{uuid.uuid4().hex[:8]}"
    published = publish(kafka_bootstrap_servers, topic, make_payments(7, EVENTS))
    by_view = specs(payments_settings, redis_url)
    arrival = {"card_spend": topic_order(published), "merchant_activity": aligned_order(published)}

    consume(payments_settings, redis_url, kafka_bootstrap_servers, topic)

    now = datetime.fromtimestamp(max(p.at_us for p in published) / 1e6, UTC) + timedelta(1e-3)
    rng = random.Random(3)
    for name, spec in by_view.items():
        oracle = Oracle(spec, arrival[name])
        assert log_rows(payments_settings, spec) == oracle.final_rows(), name
        keys = sorted(oracle.watermark)
        assert online_rows(payments_settings, redis_url, spec, keys, now) == oracle.online(), name
        assert backfill_rows(spec, arrival[name]) == oracle.all_rows(), name
        lookups = [
            (key, rng.randint(published[0].at_us - 60_000_000, final))
            for key in keys
            for final in [oracle.watermark[key] - spec.lateness_us]
            for _ in range(20)
        ]
        empty = oracle.value_at("no such key", 0)
        expected = [oracle.value_at(key, at) for key, at in lookups]
        got = point_in_time(payments_settings, spec, lookups)
        assert [empty if row is None else row for row in got] == expected, name
    # Late beyond the lateness: dead-lettered by each view, counted by neither.
    assert any(len(Oracle(spec, arrival[name]).accepted) for name, spec in by_view.items())
