"""The offline engine: the one way into DuckDB for retrieval, materialization and profiling.

It owns the connection and its settings (`memory_limit`, `temp_directory`, `threads`, UTC) and
maps DuckDB's errors to ones that say what to do; every reader of feature sources goes through
it, so none of them opens a bare connection that ignores the store's settings.

    with OfflineEngine(store.config.offline_store) as engine:
        result = engine.historical_features(spine, views)
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Any

import duckdb
import pyarrow as pa

from featurestore.offline.latest import pull_latest
from featurestore.offline.pit import PointInTimeResult, point_in_time_join
from featurestore.offline.profile import SourceProfile, profile_source
from featurestore.offline.session import arrow_query, connect, duckdb_advice
from featurestore.offline.source import ViewSource, check_source
from featurestore.offline.table_queries import rows_in_range_sql

__all__ = ["ENGINE_NAME", "OfflineEngine", "connect", "duckdb_advice"]

ENGINE_NAME = "featurestore ASOF (DuckDB)"


class OfflineEngine:
    """Historical retrieval, latest row per key, all rows and source profiles over one DuckDB
    connection opened with the offline store's settings (or one that is handed in)."""

    name: str = ENGINE_NAME
    packages: tuple[str, ...] = ()

    def __init__(
        self, settings: Any = None, *, connection: duckdb.DuckDBPyConnection | None = None
    ) -> None:
        """`settings`: any object with optional `memory_limit`, `temp_directory`, `threads`
        (the offline store config). A given `connection` is used as is and left open."""
        self._settings = settings
        self._given = connection
        self._stack: contextlib.ExitStack | None = None
        self._connection = connection

    def __enter__(self) -> OfflineEngine:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The engine's connection, opened with its settings on first use."""
        if self._connection is None:
            self._stack = contextlib.ExitStack()
            self._connection = self._stack.enter_context(connect(self._settings))
        return self._connection

    def close(self) -> None:
        """Close the connection the engine opened (a handed-in one stays open)."""
        if self._stack is not None:
            self._stack.close()
            self._stack = None
            self._connection = self._given

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
        """Each spine row with, per view, the features as known at its time (README)."""
        return point_in_time_join(
            self.connection,
            spine,
            views,
            event_timestamp_column=event_timestamp_column,
            as_known_at=as_known_at,
            full_feature_names=full_feature_names,
            with_feature_times=with_feature_times,
        )

    def latest(
        self,
        source: ViewSource,
        start: datetime,
        end: datetime,
        *,
        event_timestamp_column: str = "event_timestamp",
    ) -> pa.Table:
        """Per key, the row with the latest (event, created) time in [start, end]."""
        return pull_latest(
            self.connection, source, start, end, event_timestamp_column=event_timestamp_column
        )

    def all_rows(
        self, source: ViewSource, start: datetime | None = None, end: datetime | None = None
    ) -> pa.Table:
        """Every row of the source whose event time lies in [start, end]."""
        check_source(self.connection, source)
        sql = rows_in_range_sql(
            source.table,
            source.join_keys,
            source.features,
            source.timestamp_field,
            source.created_timestamp_field,
            start,
            end,
        )
        return arrow_query(self.connection, sql, f"Reading the rows of `{source.name}`")

    def profile(self, source: ViewSource) -> SourceProfile:
        """What the join knows of the source (event-time ties, late rows), cached per file."""
        checked = check_source(self.connection, source)
        if checked.created_sql is None:
            return SourceProfile(event_ties=False, late_created=False)
        return profile_source(
            self.connection,
            source.location,
            source.join_keys,
            checked.event_sql,
            checked.created_sql,
        )
