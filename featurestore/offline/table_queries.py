"""SQL reading one source table: the latest row per key, or every row, in a time range."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from featurestore.sql import quote_ident


def _range_filter(timestamp_field: str, start: datetime | None, end: datetime | None) -> str:
    column = quote_ident(timestamp_field)
    conditions = [f"{column} IS NOT NULL"]
    if start is not None:
        conditions.append(f"{column} >= TIMESTAMPTZ '{start.isoformat()}'")
    if end is not None:
        conditions.append(f"{column} <= TIMESTAMPTZ '{end.isoformat()}'")
    return " AND ".join(conditions)


def _columns(
    join_keys: Sequence[str],
    features: Sequence[str],
    timestamp_field: str,
    created_timestamp_field: str | None,
) -> str:
    names = [*join_keys, *features, timestamp_field]
    if created_timestamp_field:
        names.append(created_timestamp_field)
    return ", ".join(quote_ident(name) for name in dict.fromkeys(names))


def latest_rows_sql(
    table: str,
    join_keys: Sequence[str],
    features: Sequence[str],
    timestamp_field: str,
    created_timestamp_field: str | None,
    start: datetime | None,
    end: datetime | None,
) -> str:
    """Per key, the row with the latest event time in [start, end], ties to the latest created."""
    order = [f"{quote_ident(timestamp_field)} DESC"]
    if created_timestamp_field:
        order.append(f"{quote_ident(created_timestamp_field)} DESC NULLS LAST")
    partition = (
        f"PARTITION BY {', '.join(quote_ident(key) for key in join_keys)} " if join_keys else ""
    )
    return (
        f"SELECT {_columns(join_keys, features, timestamp_field, created_timestamp_field)} "
        f"FROM {table} WHERE {_range_filter(timestamp_field, start, end)} "
        f"QUALIFY row_number() OVER ({partition}ORDER BY {', '.join(order)}) = 1"
    )


def rows_in_range_sql(
    table: str,
    join_keys: Sequence[str],
    features: Sequence[str],
    timestamp_field: str,
    created_timestamp_field: str | None,
    start: datetime | None,
    end: datetime | None,
) -> str:
    """Every row whose event time lies in [start, end]."""
    return (
        f"SELECT {_columns(join_keys, features, timestamp_field, created_timestamp_field)} "
        f"FROM {table} WHERE {_range_filter(timestamp_field, start, end)}"
    )
