"""Fixtures of the streaming tests: an ingested and applied repo, and per-test topic, Redis
database and offline log, so tests sharing the session's broker and Redis stay apart."""

from __future__ import annotations

import functools
import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import duckdb
import pyarrow as pa
import pytest
import redis

from featurestore.aggregations import WindowSpec, window_spec
from featurestore.apply import apply_repo
from featurestore.examples.flights import ingest_flights
from featurestore.examples.flights.events import departure_events
from featurestore.online.client import OnlineClient
from featurestore.online.connection import connect
from featurestore.repo import load_definitions, open_store
from featurestore.settings import Settings, load_settings
from streaming.config import StreamOptions
from streaming.consumer import RunStats
from streaming.offline_log import OfflineLog
from streaming.service import build_consumer, run_consumer

_databases = itertools.cycle(range(8, 16))  # other tests use database 0
ORIGINS = ("EWR", "JFK", "LGA")
VIEW = "origin_departures_60m"


@functools.cache
def departures_spec() -> WindowSpec:
    """The flights repo's per-origin window, as declared in `feature_repo/`."""
    contents = load_definitions(load_settings())
    views = {v.name: v for v in contents.stream_feature_views}
    return window_spec(views[VIEW], contents.entities)


ORIGIN_DEPARTURES_60M = departures_spec()
FEATURES = [f"{VIEW}:{name}" for name in ORIGIN_DEPARTURES_60M.feature_names]


@dataclass
class StreamEnv:
    """One test's isolated streaming setup over the shared services."""

    settings: Settings
    redis_url: str
    bootstrap_servers: str
    topic: str
    log_dir: Path

    @property
    def flights_path(self) -> Path:
        return self.settings.data_dir / "sources" / "flights.parquet"

    @property
    def backfill_path(self) -> Path:
        return self.settings.data_dir / "sources" / "origin_departures_60m.parquet"

    @property
    def spec(self) -> WindowSpec:
        return ORIGIN_DEPARTURES_60M

    @property
    def view_log_dir(self) -> Path:
        """The offline log of the departures view (`log_dir` holds one per view)."""
        return self.log_dir / VIEW

    @property
    def log(self) -> OfflineLog:
        return OfflineLog(self.view_log_dir, ORIGIN_DEPARTURES_60M)

    def whole_minutes(self, events: int) -> int:
        """At most `events`, cut where the departure time changes: a replay that stops inside a
        minute would leave that minute's online value provisional (more departures follow)."""
        times = [
            e["event_timestamp"] for e in departure_events(self.flights_path, limit=events + 1)
        ]
        while events > 1 and times[events - 1] == times[events]:
            events -= 1
        return events

    def sibling(self) -> StreamEnv:
        """Same topic, but its own Redis database and offline log (a second, independent run)."""
        url = redis_database_url(self.redis_url, next(_databases))
        redis.Redis.from_url(url).flushdb()
        return StreamEnv(
            self.settings,
            url,
            self.bootstrap_servers,
            self.topic,
            self.log_dir.with_name(self.log_dir.name + "-sibling"),
        )

    def with_redis(self, url: str) -> StreamEnv:
        """This setup read through another Redis."""
        return StreamEnv(self.settings, url, self.bootstrap_servers, self.topic, self.log_dir)

    def options(self, **overrides: object) -> StreamOptions:
        values: dict[str, object] = {
            "bootstrap_servers": self.bootstrap_servers,
            "topic": self.topic,
            "group_id": f"{self.topic}.group",
            "offline_log_dir": self.log_dir,
            "stop_when_caught_up": True,
            **overrides,
        }
        return StreamOptions.model_validate(values)

    def consume(self, **overrides: object) -> RunStats:
        """Run a consumer in this process until it has read everything published."""
        consumer = build_consumer(self.settings, self.redis_url, self.options(**overrides))
        return run_consumer(consumer, handle_signals=False)

    def online_rows(self) -> dict[str, tuple[datetime | None, tuple[Any, ...]]]:
        """Per origin: the online event time and feature values, as our reader serves them."""
        store = open_store(self.settings, self.redis_url)
        client = connect(self.redis_url)  # one node or a cluster
        try:
            result = OnlineClient(store, client).get(FEATURES, [{"origin": o} for o in ORIGINS])
        finally:
            client.close()
        names = list(ORIGIN_DEPARTURES_60M.feature_names)
        return {
            origin: (
                result.event_timestamps[names[0]][row],
                tuple(result.values[name][row] for name in names),
            )
            for row, origin in enumerate(ORIGINS)
        }

    def backfill_rows(self, where: str = "TRUE") -> pa.Table:
        """Rows of the ingest's batch backfill, sorted like the offline log."""
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        try:
            return con.sql(
                f"SELECT * FROM read_parquet($path) WHERE {where} ORDER BY event_timestamp, origin",
                params={"path": str(self.backfill_path)},
            ).to_arrow_table()
        finally:
            con.close()


def redis_database_url(url: str, database: int) -> str:
    return urlunparse(urlparse(url)._replace(path=f"/{database}"))


@pytest.fixture(scope="session")
def stream_settings(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Settings:
    """The flights data ingested and the repo applied, once for all streaming tests."""
    data_dir = tmp_path_factory.mktemp("streaming")
    settings = load_settings(data_dir=data_dir, redis_url=redis_url)
    ingest_flights(data_dir)
    apply_repo(settings, redis_url)
    return settings


@pytest.fixture
def stream_env(
    stream_settings: Settings, redis_url: str, kafka_bootstrap_servers: str, tmp_path: Path
) -> Iterator[StreamEnv]:
    url = redis_database_url(redis_url, next(_databases))
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield StreamEnv(
        settings=stream_settings,
        redis_url=url,
        bootstrap_servers=kafka_bootstrap_servers,
        topic=f"departures.{uuid.uuid4().hex[:8]}",
        log_dir=tmp_path / "log",
    )
    client.flushdb()
    client.close()
