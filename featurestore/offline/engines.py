"""The seam between callers and the offline engine: DuckDB by default, Spark when the repo's
feature_store.yaml says `offline_store: {type: spark}`.

Training sets, materialization and the Python API ask `open_engine(store)` for an engine and use
only what `OfflineBackend` offers, so neither they nor their tests branch on the engine. The
Spark engine (featurestore.offline.spark_engine) is imported only when a repo selects it, so an
install without the `spark` extra never imports pyspark.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

import pyarrow as pa
from feast import FeatureStore

from featurestore.offline.pit import PointInTimeResult
from featurestore.offline.source import ViewSource

SPARK_TYPE = "spark"
"""`offline_store.type` that selects Feast's Spark offline store and our Spark engine."""


class OfflineBackend(Protocol):
    """What callers need from an offline engine: point-in-time joins and the latest row per key."""

    name: str
    """Shown in training-set manifests, e.g. `featurestore ASOF (DuckDB)`."""

    packages: tuple[str, ...]
    """Packages beyond the core ones whose versions the manifest records."""

    def historical_features(
        self,
        spine: pa.Table | str,
        views: Sequence[ViewSource],
        *,
        event_timestamp_column: str = "event_timestamp",
        as_known_at: bool = True,
        full_feature_names: bool = False,
        with_feature_times: bool = False,
    ) -> PointInTimeResult:
        """Each spine row, in spine order, with per view the features as known at its time;
        a `str` spine is a DuckDB table expression read into memory."""
        ...

    def latest(
        self,
        source: ViewSource,
        start: datetime,
        end: datetime,
        *,
        event_timestamp_column: str = "event_timestamp",
    ) -> pa.Table:
        """Per key, the row with the latest (event, created) time in [start, end]: join keys,
        features, then the event time (µs, UTC) named `event_timestamp_column`."""
        ...

    def close(self) -> None:
        """Release what the engine opened."""
        ...


def is_spark(offline_store: Any) -> bool:
    """Whether an offline store config selects Spark."""
    return getattr(offline_store, "type", None) == SPARK_TYPE


def open_engine(store: FeatureStore) -> OfflineBackend:
    """The engine the store's `offline_store` selects; close it when done."""
    if is_spark(store.config.offline_store):
        from featurestore.offline.spark_engine import SparkEngine

        return SparkEngine(store.config, store.registry, store.project)
    from featurestore.offline.engine import OfflineEngine

    return OfflineEngine(store.config.offline_store)
