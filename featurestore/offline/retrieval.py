"""Point-in-time correct historical features for an entity spine, from a Feast registry."""

from __future__ import annotations

import duckdb
import pyarrow as pa
from feast import FeatureStore

from featurestore.offline.engine import OfflineEngine
from featurestore.offline.engines import OfflineBackend, open_engine
from featurestore.offline.feast_sources import FeatureSelection, view_sources
from featurestore.offline.pit import PointInTimeResult


def historical_features(
    store: FeatureStore,
    spine: pa.Table | str,
    features: FeatureSelection,
    *,
    event_timestamp_column: str = "event_timestamp",
    as_known_at: bool = True,
    full_feature_names: bool = False,
    connection: duckdb.DuckDBPyConnection | None = None,
) -> PointInTimeResult:
    """Each spine row with the features as known at its event time (see README semantics),
    joined by the engine the store selects, or by DuckDB on a given `connection`."""
    sources = view_sources(store, features)
    engine: OfflineBackend = (
        open_engine(store)
        if connection is None
        else OfflineEngine(store.config.offline_store, connection=connection)
    )
    try:
        return engine.historical_features(
            spine,
            sources,
            event_timestamp_column=event_timestamp_column,
            as_known_at=as_known_at,
            full_feature_names=full_feature_names,
        )
    finally:
        engine.close()
