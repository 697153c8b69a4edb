"""The demo's streaming step: replay a slice of departures, consume it, read the windows online."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime

from featurestore.examples.flights.events import replay_flights
from featurestore.online.client import OnlineClient
from featurestore.online.connection import connect
from featurestore.progress import Reporter
from featurestore.repo import open_store
from featurestore.settings import Settings
from streaming.config import StreamOptions
from streaming.service import build_consumer, run_consumer

DEMO_EVENTS = 5_000
DEMO_VIEW = "origin_departures_60m"
ORIGINS = ("EWR", "JFK", "LGA")


@dataclass(frozen=True)
class OriginWindow:
    """One origin's streamed features as served online, with their event time."""

    origin: str
    departures_60m: int | None
    mean_dep_delay_60m: float | None
    event_timestamp: datetime | None
    status: str


@dataclass(frozen=True)
class StreamingDemo:
    """What the streaming step did and what it served."""

    published: int
    consumed: int
    seconds: float
    windows: list[OriginWindow]


def run_streaming_step(
    settings: Settings,
    redis_url: str,
    bootstrap_servers: str,
    reporter: Reporter,
    *,
    events: int = DEMO_EVENTS,
) -> StreamingDemo:
    """Replay the first `events` departures, run the consumer until caught up, read online."""
    began = time.perf_counter()
    topic = f"flights.departures.demo-{uuid.uuid4().hex[:6]}"
    flights = settings.data_dir / "sources" / "flights.parquet"
    published = replay_flights(flights, bootstrap_servers, topic=topic, limit=events)
    reporter.start("stream departures into Redis")
    options = StreamOptions(
        bootstrap_servers=bootstrap_servers,
        topic=topic,
        group_id=f"{topic}.demo",
        offline_log_dir=settings.data_dir / "stream" / "demo" / topic,
        stop_when_caught_up=True,
    )
    consumer = build_consumer(settings, redis_url, options, views=[DEMO_VIEW])
    stats = run_consumer(consumer, handle_signals=False)
    reporter.finish("stream departures into Redis")
    store = open_store(settings, redis_url)
    client = connect(redis_url)
    try:
        names = [f"{DEMO_VIEW}:{n}" for n in ("departures_60m", "mean_dep_delay_60m")]
        # Replayed 2013 events: judge the ttl at the stream's own time, not today's.
        now = published.last_event
        online = OnlineClient(store, client).get(names, [{"origin": o} for o in ORIGINS], now=now)
    finally:
        client.close()
    windows = [
        OriginWindow(
            origin=origin,
            departures_60m=online.values["departures_60m"][row],
            mean_dep_delay_60m=online.values["mean_dep_delay_60m"][row],
            event_timestamp=online.event_timestamps["departures_60m"][row],
            status=str(online.statuses["departures_60m"][row].value),
        )
        for row, origin in enumerate(ORIGINS)
    ]
    return StreamingDemo(published.published, stats.consumed, time.perf_counter() - began, windows)
