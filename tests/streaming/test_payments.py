"""A second domain, defined only in a test repo: two stream views on one card-keyed `payments`
topic, one of them keyed by merchant (repartitioned). Online values, the offline log, the batch
backfill and point-in-time lookups over the log all equal a brute-force oracle."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import random
import shutil
import signal
import time
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
    redis_database_url,
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
    settings: Settings,
    redis_url: str,
    servers: str,
    topic: str,
    views: list[str] | None = None,
    **options: object,
) -> None:
    values: dict[str, object] = {
        "bootstrap_servers": servers,
        "topic": topic,
        "group_id": f"{topic}.group",
        "offline_log_dir": settings.data_dir / "stream",
        "stop_when_caught_up": True,
        **options,
    }
    options_model = StreamOptions.model_validate(values)
    consumer = build_consumer(settings, redis_url, options_model, views=views)
    run_consumer(consumer, handle_signals=True)


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


def _consume_in_child(settings: Settings, redis_url: str, servers: str, topic: str) -> None:
    # Small batches and frequent checkpoints: many moments to be killed at.
    consume(settings, redis_url, servers, topic, checkpoint_seconds=0.1, max_poll_records=200)


def applied_offsets(log_dir: Path) -> int:
    """Forwarded events the view's checkpoints have committed so far."""
    total = 0
    for path in (log_dir / "_checkpoints").glob("*.json"):
        with contextlib.suppress(OSError, ValueError):  # replaced while being read
            total += json.loads(path.read_text())["next_offset"]
    return total


def test_killed_consumer_of_a_repartitioned_view_matches_an_uninterrupted_run(
    payments_settings: Settings, redis_url: str, kafka_bootstrap_servers: str
) -> None:
    """SIGKILL at random moments (forwarding, applying, checkpointing), restart each time: the
    offline logs and online values equal those of a run that was never interrupted."""
    events, servers = 1_500, kafka_bootstrap_servers
    payments = make_payments(11, events)
    reference_topic, chaos_topic = (f"payments.{uuid.uuid4().hex[:8]}" for _ in range(2))
    publish(servers, reference_topic, payments)
    published = publish(servers, chaos_topic, payments)  # same keys, same partitions and offsets
    consume(payments_settings, redis_url, servers, reference_topic)
    chaos_url = redis_database_url(redis_url, 7)
    redis.Redis.from_url(chaos_url).flushdb()
    chaos_settings = payments_settings.model_copy(
        update={"data_dir": payments_settings.data_dir.with_name("chaos-data")}
    )
    chaos_settings.data_dir.mkdir()
    shutil.copy(payments_settings.registry_path, chaos_settings.registry_path)
    rng = random.Random(5)

    killed = 0
    progress = chaos_settings.data_dir / "stream" / "merchant_activity"
    for point in sorted(rng.sample(range(events // 10, events * 8 // 10), 2)):
        process = multiprocessing.get_context("fork").Process(
            target=_consume_in_child, args=(chaos_settings, chaos_url, servers, chaos_topic)
        )
        process.start()
        deadline = time.monotonic() + 90
        while applied_offsets(progress) < point and process.is_alive():
            assert time.monotonic() < deadline
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.05))
        if not process.is_alive():
            break
        assert process.pid is not None
        os.kill(process.pid, signal.SIGKILL)
        process.join()
        killed += 1
    consume(chaos_settings, chaos_url, servers, chaos_topic)

    assert killed == 2
    now = datetime.fromtimestamp(max(p.at_us for p in published) / 1e6, UTC) + timedelta(1e-3)
    for spec in specs(payments_settings, redis_url).values():
        keys = sorted({str(p.fields()[spec.key]) for p in published})
        assert log_rows(chaos_settings, spec) == log_rows(payments_settings, spec), spec.view
        assert online_rows(chaos_settings, chaos_url, spec, keys, now) == online_rows(
            payments_settings, redis_url, spec, keys, now
        ), spec.view


def _group_member(settings: Settings, redis_url: str, servers: str, topic: str, group: str) -> None:
    consume(
        settings,
        redis_url,
        servers,
        topic,
        group_id=group,
        views=["card_spend"],
        checkpoint_seconds=0.1,
        max_poll_records=100,
    )


@pytest.mark.slow
def test_a_consumer_group_with_a_member_killed_and_one_joining_equals_one_consumer(
    payments_settings: Settings, redis_url: str, kafka_bootstrap_servers: str
) -> None:
    """4 partitions, 3 consumers in one group; one is SIGKILLed mid-run and a fourth joins
    later. Partition state moves through the checkpoints: the log and online values equal those
    of one uninterrupted consumer."""
    events, servers = 3_000, kafka_bootstrap_servers
    payments = make_payments(17, events)
    reference_topic, group_topic = (f"payments.{uuid.uuid4().hex[:8]}" for _ in range(2))
    publish(servers, reference_topic, payments, partitions=4)
    published = publish(servers, group_topic, payments, partitions=4)
    consume(payments_settings, redis_url, servers, reference_topic, views=["card_spend"])
    group_url = redis_database_url(redis_url, 6)
    redis.Redis.from_url(group_url).flushdb()
    group_settings = payments_settings.model_copy(
        update={"data_dir": payments_settings.data_dir.with_name("group-data")}
    )
    group_settings.data_dir.mkdir()
    shutil.copy(payments_settings.registry_path, group_settings.registry_path)
    fork = multiprocessing.get_context("fork")
    arguments = (group_settings, group_url, servers, group_topic, f"{group_topic}.group")
    progress = group_settings.data_dir / "stream" / "card_spend"

    members = [fork.Process(target=_group_member, args=arguments) for _ in range(3)]
    for member in members:
        member.start()
    deadline = time.monotonic() + 120
    while applied_offsets(progress) < events // 4:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert members[1].pid is not None
    os.kill(members[1].pid, signal.SIGKILL)
    members.append(fork.Process(target=_group_member, args=arguments))
    members[-1].start()
    while applied_offsets(progress) < events and time.monotonic() < deadline:
        time.sleep(0.05)
    for member in members:  # a member left with no partition waits; ask it to stop
        if member.is_alive() and member.pid is not None:
            os.kill(member.pid, signal.SIGTERM)
        member.join(timeout=60)
    # Whatever no member finished is resumed from the checkpoints (normally nothing is left). A
    # group of its own: the killed member stays in the old group until the broker expires it.
    consume(
        group_settings,
        group_url,
        servers,
        group_topic,
        views=["card_spend"],
        group_id=f"{group_topic}.resume",
    )

    spec = specs(payments_settings, redis_url)["card_spend"]
    keys = sorted({p.card_id for p in published})
    now = datetime.fromtimestamp(max(p.at_us for p in published) / 1e6, UTC) + timedelta(1e-3)
    assert log_rows(group_settings, spec) == log_rows(payments_settings, spec)
    assert online_rows(group_settings, group_url, spec, keys, now) == online_rows(
        payments_settings, redis_url, spec, keys, now
    )


def test_adding_a_view_reads_the_topic_for_it_alone(
    payments_settings: Settings, redis_url: str, kafka_bootstrap_servers: str
) -> None:
    """Serving a second view on a topic replays it for that view; the first view's checkpoints
    and log are left as they were, and the new view equals the oracle."""
    servers = kafka_bootstrap_servers
    topic = f"payments.{uuid.uuid4().hex[:8]}"
    published = publish(servers, topic, make_payments(23, 300))
    by_view = specs(payments_settings, redis_url)
    consume(payments_settings, redis_url, servers, topic, views=["card_spend"])
    checkpoints = payments_settings.data_dir / "stream" / "card_spend" / "_checkpoints"
    before = {path.name: path.stat().st_mtime_ns for path in checkpoints.glob("*.json")}
    card_rows = log_rows(payments_settings, by_view["card_spend"])

    consume(payments_settings, redis_url, servers, topic)

    assert {path.name: path.stat().st_mtime_ns for path in checkpoints.glob("*.json")} == before
    assert log_rows(payments_settings, by_view["card_spend"]) == card_rows
    merchant = by_view["merchant_activity"]
    expected = Oracle(merchant, aligned_order(published)).final_rows()
    assert log_rows(payments_settings, merchant) == expected
