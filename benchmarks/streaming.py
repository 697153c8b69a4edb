"""Streaming benchmark: kafka-python's raw consume rate, the consumer's end-to-end rate into
Redis + Parquet for one view, two views on one topic and a repartitioned view, and
event-to-online latency at a steady 5,000 events/s — in one run.

    python benchmarks/streaming.py [--events 100000] [--rate 5000] [--seconds 10]

Uses FEATURESTORE_REDIS_URL / FEATURESTORE_KAFKA_BOOTSTRAP_SERVERS when set, else embedded servers.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this folder comes first on sys.path and this file's name would shadow the
# `streaming` package: take the folder off before importing it.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import multiprocessing
import os
import platform
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack

from featurestore.apply import apply_repo
from featurestore.examples.flights import bundled_repo, ingest_flights
from featurestore.examples.flights.events import departure_events, encode_event, replay_flights
from featurestore.kafka import make_consumer, make_producer
from featurestore.services import EmbeddedBroker, EmbeddedRedis
from featurestore.settings import load_settings
from streaming.config import StreamOptions
from streaming.metrics import StreamMetrics
from streaming.service import build_consumer, run_consumer

ONE_VIEW = "origin_departures_60m"


def raw_consume_rate(servers: str, topic: str, events: int) -> float:
    """kafka-python alone, with the consumer's own client settings: the ceiling."""
    consumer = make_consumer(servers, f"raw-{uuid.uuid4().hex[:6]}")
    consumer.subscribe([topic])
    seen, began = 0, None
    while seen < events:
        batch = consumer.poll(timeout_ms=1000)
        if batch and began is None:
            began = time.perf_counter()
        seen += sum(len(records) for records in batch.values())
    elapsed = time.perf_counter() - (began or time.perf_counter())
    consumer.close()
    return events / elapsed


# Added to a copy of the flights repo: a second view on the origin-keyed topic, and a view keyed
# by carrier, which the consumer repartitions through `<topic>.by.carrier`.
EXTRA_VIEWS = """

def _window(name, column, function, minutes):
    return Aggregation(column=column, function=function, time_window=timedelta(minutes=minutes),
                       name=name)


def _fields(*names):
    return [Field(name=n, dtype=Int64, description=n, tags=semantics(unit="min")) for n in names]


origin_delays_30m = StreamFeatureView(
    name="origin_delays_30m", entities=[airport], ttl=timedelta(hours=1), source=departures_stream,
    schema=_fields("min_dep_delay_30m", "max_dep_delay_30m"),
    aggregations=[_window("min_dep_delay_30m", "dep_delay", "min", 30),
                  _window("max_dep_delay_30m", "dep_delay", "max", 30)],
    timestamp_field="event_timestamp", online=True, owner=OWNER, description="bench",
    tags=OPEN_DATA)

carrier_delays_30m = StreamFeatureView(
    name="carrier_delays_30m", entities=[carrier], ttl=timedelta(hours=1), source=departures_stream,
    schema=_fields("departures_30m", "max_dep_delay_30m"),
    aggregations=[_window("departures_30m", "flight_id", "count", 30),
                  _window("max_dep_delay_30m", "dep_delay", "max", 30)],
    timestamp_field="event_timestamp", online=True, owner=OWNER, description="bench",
    tags=OPEN_DATA)
"""


def extended_repo(root: Path) -> Path:
    """A copy of the flights repo with the benchmark's extra stream views."""
    repo = root / "feature_repo"
    shutil.copytree(bundled_repo(), repo)
    with (repo / "flights_features.py").open("a") as definitions:
        definitions.write(EXTRA_VIEWS)
    return repo


def end_to_end_rate(
    settings, redis_url: str, servers: str, topic: str, events: int, views: list[str]
) -> float:
    """Our consumer: decode, validate, windows, Redis writes, Parquet log, checkpoints, commits."""
    log_dir = Path(tempfile.mkdtemp(prefix="bench-log-"))
    options = StreamOptions(
        bootstrap_servers=servers, topic=topic, group_id=f"e2e-{uuid.uuid4().hex[:6]}",
        offline_log_dir=log_dir, stop_when_caught_up=True,
    )  # fmt: skip
    consumer = build_consumer(settings, redis_url, options, views=views)
    process, marks = consumer._process, {}

    def timed(batch):  # first batch in, last batch written
        marks.setdefault("first", time.perf_counter())
        process(batch)
        marks["last"] = time.perf_counter()

    consumer._process = timed  # type: ignore[method-assign]
    stats = run_consumer(consumer, handle_signals=False)
    assert stats.consumed == events * (2 if stats.forwarded else 1), stats
    return events / (marks["last"] - marks["first"])


def _paced_producer(servers: str, topic: str, bodies: list[tuple[bytes, bytes]], rate: float):
    producer = make_producer(servers, linger_ms=2)
    began = time.perf_counter()
    for number, (key, value) in enumerate(bodies):
        due = began + number / rate
        if (wait := due - time.perf_counter()) > 0:
            time.sleep(wait)
        producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()


def steady_latency(settings, redis_url, servers, topic, rate: float, seconds: float) -> list[float]:
    """Append-to-Redis latencies of every event while another process publishes at `rate`."""
    metrics = StreamMetrics(keep_latencies=True)
    options = StreamOptions(
        bootstrap_servers=servers, topic=topic, group_id=f"lat-{uuid.uuid4().hex[:6]}",
        offline_log_dir=Path(tempfile.mkdtemp(prefix="bench-lat-")),
    )  # fmt: skip
    consumer = build_consumer(settings, redis_url, options, metrics=metrics, views=[ONE_VIEW])
    thread = threading.Thread(
        target=run_consumer, args=(consumer,), kwargs={"handle_signals": False}
    )
    thread.start()
    while not consumer.assigned_partitions:
        time.sleep(0.1)
    count = int(rate * seconds)
    flights = settings.data_dir / "sources" / "flights.parquet"
    bodies = [
        (str(e["origin"]).encode(), encode_event(e)) for e in departure_events(flights, limit=count)
    ]
    producer = multiprocessing.get_context("fork").Process(
        target=_paced_producer, args=(servers, topic, bodies, rate)
    )
    producer.start()
    producer.join()
    while consumer.stats.consumed < count:
        time.sleep(0.1)
    consumer.stop()
    thread.join()
    return metrics.append_latencies


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=5_000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    with ExitStack() as stack:
        redis_url = (
            os.environ.get("FEATURESTORE_REDIS_URL") or stack.enter_context(EmbeddedRedis()).url
        )
        servers = (
            os.environ.get("FEATURESTORE_KAFKA_BOOTSTRAP_SERVERS")
            or stack.enter_context(EmbeddedBroker()).bootstrap_servers
        )
        data_dir = args.data_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        repo = extended_repo(Path(stack.enter_context(tempfile.TemporaryDirectory())))
        settings = load_settings(data_dir=data_dir, redis_url=redis_url, repo_path=repo)
        ingest_flights(data_dir)
        apply_repo(settings, redis_url)
        topic = f"bench.{uuid.uuid4().hex[:6]}"
        published = replay_flights(
            data_dir / "sources" / "flights.parquet", servers, topic=topic, limit=args.events
        )
        events = published.published
        raw = raw_consume_rate(servers, topic, events)
        ours = end_to_end_rate(settings, redis_url, servers, topic, events, [ONE_VIEW])
        two = end_to_end_rate(
            settings, redis_url, servers, topic, events, [ONE_VIEW, "origin_delays_30m"]
        )
        repartitioned = end_to_end_rate(
            settings, redis_url, servers, topic, events, ["carrier_delays_30m"]
        )
        latencies = steady_latency(
            settings, redis_url, servers, f"{topic}.steady", args.rate, args.seconds
        )
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"events: {events:,} (publish {published.published / published.seconds:,.0f}/s)")
    print(f"kafka-python raw consume:      {raw:>9,.0f} events/s")
    print(f"consumer end to end, 1 view:   {ours:>9,.0f} events/s  ({ours / raw:.0%} of raw)")
    print(f"2 views on one topic:          {two:>9,.0f} events/s  ({two / ours:.0%} of 1 view)")
    print(
        f"1 repartitioned view:          {repartitioned:>9,.0f} events/s  "
        f"({repartitioned / ours:.0%} of 1 view; each event is read, forwarded and read again)"
    )
    target = min(15_000, 0.75 * raw)
    print(f"acceptance: >= {target:,.0f}/s -> {'met' if ours >= target else 'NOT met'}")
    print(
        f"event-to-online at {args.rate:,.0f}/s over {len(latencies):,} events: "
        f"p50 {percentile(latencies, 0.5) * 1000:.0f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms, "
        f"mean {statistics.fmean(latencies) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
