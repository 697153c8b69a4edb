"""Helpers of the online tests: a small Feast repo of drivers with trip statistics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import pyarrow as pa
import pyarrow.parquet as pq
import redis
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
from feast.types import Float64, Int64, String

from featurestore.definitions import rights
from featurestore.settings import Settings

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
PRISTINE_REGISTRY = "registry.applied.db"
"""The flights registry as `apply` left it, before any materialization."""
SERVING = rights(license="CC0-1.0", pii="none", purposes="training,serving")
TRAINING_ONLY = rights(license="CC-BY-NC-4.0", pii="pseudonymous", purposes="training")

driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
city = Entity(name="city", join_keys=["city"], value_type=ValueType.STRING)


def timestamps(*moments: datetime) -> pa.Array:
    return pa.array(moments, pa.timestamp("us", tz="UTC"))


@dataclass
class MiniRepo:
    """A registered Feast project, its data folder and a client of the session's Redis."""

    settings: Settings
    store: FeatureStore
    redis: redis.Redis
    data_dir: Path

    @property
    def project(self) -> str:
        return self.store.project

    def source(self, name: str, table: pa.Table, **kwargs: Any) -> FileSource:
        """Write `table` as a Parquet source and describe it."""
        path = self.data_dir / f"{name}.parquet"
        pq.write_table(table, path, coerce_timestamps="us")
        return FileSource(
            name=name, path=str(path), timestamp_field="event_timestamp", tags=SERVING, **kwargs
        )

    def apply(self, *objects: Any) -> None:
        self.store.apply([driver, city, *objects])


def driver_stats_view(
    source: FileSource, *, ttl: timedelta = timedelta(hours=1), tags: dict[str, str] = SERVING
) -> FeatureView:
    return FeatureView(
        name="driver_stats",
        entities=[driver],
        ttl=ttl,
        schema=[
            Field(name="conv_rate", dtype=Float64),
            Field(name="trips", dtype=Int64),
            Field(name="rank", dtype=String),
        ],
        source=source,
        tags=tags,
    )


def driver_rows(
    ids: list[int],
    times: list[datetime],
    *,
    conv_rate: list[float | None] | None = None,
    created: list[datetime] | None = None,
) -> pa.Table:
    columns: dict[str, Any] = {
        "driver_id": pa.array(ids, pa.int64()),
        "conv_rate": pa.array(conv_rate or [i / 10 for i in range(len(ids))], pa.float64()),
        "trips": pa.array([i * 100 for i in range(len(ids))], pa.int64()),
        "rank": pa.array([f"r{i}" for i in range(len(ids))], pa.string()),
        "event_timestamp": timestamps(*times),
    }
    if created is not None:
        columns["created_timestamp"] = timestamps(*created)
    return pa.table(columns)


def with_database(redis_url: str, database: int) -> str:
    """The same Redis server, another database number."""
    return urlunparse(urlparse(redis_url)._replace(path=f"/{database}"))
