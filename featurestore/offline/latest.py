"""The latest row per entity key in an event-time range: what materialization copies online."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import duckdb
import pyarrow as pa

from featurestore.errors import RetrievalError
from featurestore.offline.pit import ViewSource
from featurestore.offline.pit_sql import utc_timestamp_sql
from featurestore.offline.table_queries import latest_rows_sql
from featurestore.sql import quote_ident


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
    types = _column_types(con, source)
    created_sql = None
    if source.created_timestamp_field:
        created_sql = _timestamp_sql(source, source.created_timestamp_field, types)
    sql = latest_rows_sql(
        source.table,
        source.join_keys,
        source.features,
        event_sql=_timestamp_sql(source, source.timestamp_field, types),
        created_sql=created_sql,
        start=start,
        end=end,
        event_name=event_timestamp_column,
    )
    try:
        return con.sql(sql).to_arrow_table()
    except duckdb.Error as exc:
        raise RetrievalError(
            f"Reading the latest rows of feature view `{source.name}` failed in DuckDB: {exc}. "
            "Check that its source file exists and has the declared columns."
        ) from exc


def _column_types(con: duckdb.DuckDBPyConnection, source: ViewSource) -> dict[str, str]:
    try:
        relation = con.sql(f"SELECT * FROM {source.table}")
    except duckdb.Error as exc:
        raise RetrievalError(
            f"Cannot read the source of feature view `{source.name}` (`{source.table}`): {exc}. "
            "Run `featurestore ingest` or fix the source path."
        ) from exc
    types = {name: str(kind) for name, kind in zip(relation.columns, relation.types, strict=True)}
    wanted: Sequence[str] = [*source.join_keys, *source.features, source.timestamp_field]
    if source.created_timestamp_field:
        wanted = [*wanted, source.created_timestamp_field]
    missing = [name for name in wanted if name not in types]
    if missing:
        raise RetrievalError(
            f"The source of feature view `{source.name}` has no column(s) "
            f"{', '.join(f'`{name}`' for name in missing)}; its columns are "
            f"{', '.join(f'`{name}`' for name in types)}. Fix the view definition."
        )
    return types


def _timestamp_sql(source: ViewSource, column: str, types: dict[str, str]) -> str:
    converted = utc_timestamp_sql(quote_ident(column), types[column])
    if converted is None:
        raise RetrievalError(
            f"Column `{column}` of the source of feature view `{source.name}` has type "
            f"`{types[column]}`; it must be a timestamp or a date."
        )
    return converted
