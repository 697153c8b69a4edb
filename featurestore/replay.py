"""Publish the flights' departures to Kafka as keyed JSON events (demo, tests, benchmarks)."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import duckdb

from featurestore.errors import SourceDataError
from featurestore.ingest.tables import DEPARTURE_ORDER, departure_events_sql
from featurestore.kafka import ensure_topics, kafka_errors, make_producer
from featurestore.progress import Reporter, SilentReporter
from featurestore.sql import quote_literal

logger = logging.getLogger(__name__)

DEPARTURES_TOPIC: Final = "flights.departures"
"""The topic of the `departures_stream` Kafka source."""
TOPIC_PARTITIONS: Final = 3
TASK: Final = "Replay departures"
_PROGRESS_EVERY: Final = 5000


@dataclass(frozen=True)
class ReplayResult:
    """How many events were published and over which event-time span."""

    published: int
    first_event: datetime | None
    last_event: datetime | None
    seconds: float


def departure_events(flights_path: Path, *, limit: int | None = None) -> list[dict[str, object]]:
    """The departures in publication order: by departure time, then flight id."""
    if not flights_path.is_file():
        raise SourceDataError(
            f"`{flights_path}` does not exist; run `featurestore ingest flights` first."
        )
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        events = departure_events_sql(f"read_parquet({quote_literal(str(flights_path))})")
        query = f"SELECT * FROM ({events}) ORDER BY {DEPARTURE_ORDER}"
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        relation = con.sql(query)
        names = relation.columns
        return [dict(zip(names, row, strict=True)) for row in relation.fetchall()]
    finally:
        con.close()


def encode_event(event: dict[str, object]) -> bytes:
    """The JSON an event is published as: the stream source's fields, times in ISO 8601 UTC."""
    at = event["event_timestamp"]
    assert isinstance(at, datetime)
    body = {**event, "event_timestamp": at.astimezone(UTC).isoformat().replace("+00:00", "Z")}
    return json.dumps(body, separators=(",", ":")).encode()


def replay_flights(
    flights_path: Path,
    bootstrap_servers: str,
    *,
    topic: str = DEPARTURES_TOPIC,
    speed: float | None = None,
    limit: int | None = None,
    reporter: Reporter | None = None,
) -> ReplayResult:
    """Publish departures keyed by origin; `speed` N plays N event-time seconds per second."""
    reporter = reporter or SilentReporter()
    events = departure_events(flights_path, limit=limit)
    ensure_topics(bootstrap_servers, {topic: TOPIC_PARTITIONS})
    producer = make_producer(bootstrap_servers)
    began = time.perf_counter()
    reporter.start(TASK, total=len(events))
    try:
        with kafka_errors(f"publish to topic {topic}", bootstrap_servers):
            first_at: datetime | None = None
            for number, event in enumerate(events, start=1):
                at = event["event_timestamp"]
                assert isinstance(at, datetime)
                if speed is not None:
                    first_at = first_at or at
                    due = began + (at - first_at).total_seconds() / speed
                    if (wait := due - time.perf_counter()) > 0:
                        time.sleep(wait)
                key = str(event["origin"]).encode()
                producer.send(topic, key=key, value=encode_event(event))
                if number % _PROGRESS_EVERY == 0:
                    reporter.advance(TASK, _PROGRESS_EVERY)
            producer.flush()
    finally:
        producer.close()
    reporter.advance(TASK, len(events) % _PROGRESS_EVERY)
    reporter.finish(TASK)
    seconds = time.perf_counter() - began
    logger.info("Published %d departures to %s in %.1f s", len(events), topic, seconds)
    times = [event["event_timestamp"] for event in events]
    return ReplayResult(
        published=len(events),
        first_event=times[0] if times else None,  # type: ignore[arg-type]
        last_event=times[-1] if times else None,  # type: ignore[arg-type]
        seconds=seconds,
    )
