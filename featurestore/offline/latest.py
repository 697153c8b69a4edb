"""The latest row per entity key in an event-time range: what materialization copies online."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pyarrow as pa

from featurestore.offline.session import arrow_query
from featurestore.offline.source import ViewSource, check_source
from featurestore.offline.table_queries import latest_rows_sql


def pull_latest(
    con: duckdb.DuckDBPyConnection,
    source: ViewSource,
    start: datetime,
    end: datetime,
    *,
    event_timestamp_column: str = "event_timestamp",
) -> pa.Table:
    """Per key, the row with the latest event time in [start, end]; ties go to the latest
    created time. Columns: join keys, features, then the event time (µs, UTC)."""
    checked = check_source(con, source)
    sql = latest_rows_sql(
        source.table,
        source.join_keys,
        source.features,
        event_sql=checked.event_sql,
        created_sql=checked.created_sql,
        start=start,
        end=end,
        event_name=event_timestamp_column,
    )
    return arrow_query(con, sql, f"Reading the latest rows of feature view `{source.name}`")
