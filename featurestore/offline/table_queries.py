"""SQL reading one source table: the latest row per key, or every row, in a time range."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from featurestore.offline.pit_sql import event_created_order_sql
from featurestore.sql import quote_ident


def _range_filter(timestamp_field: str, start: datetime | None, end: datetime | None) -> str:
    return _time_filter(quote_ident(timestamp_field), start, end)


def _time_filter(column: str, start: datetime | None, end: datetime | None) -> str:
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
    *,
    event_sql: str,
    created_sql: str | None,
    start: datetime | None,
    end: datetime | None,
    event_name: str,
    created_name: str | None = None,
) -> str:
    """Per key, the row with the latest event time in [start, end]; ties go to the latest
    created time, a missing created time losing every tie.

    One `arg_max` aggregation instead of a window: DuckDB keeps a single running winner per
    key, which measured 5–10× faster than `row_number() OVER (PARTITION BY …)` on 10M rows.
    `event_sql`/`created_sql` are the SQL of the two times; the output has the join keys, the
    features, the event time as `event_name` and, when `created_name` is given, the created
    time under that name."""
    order = event_created_order_sql(event_sql, created_sql)
    keys = [quote_ident(key) for key in join_keys]
    packed = [f"__fs_f{i} := {quote_ident(name)}" for i, name in enumerate(features)]
    packed.append(f"__fs_event := {event_sql}")
    outputs = [
        *(f"__fs_row.__fs_f{i} AS {quote_ident(name)}" for i, name in enumerate(features)),
        f"__fs_row.__fs_event AS {quote_ident(event_name)}",
    ]
    if created_name is not None:
        packed.append(f"__fs_created := {created_sql or 'NULL::TIMESTAMPTZ'}")
        outputs.append(f"__fs_row.__fs_created AS {quote_ident(created_name)}")
    conditions = [f"{key} IS NOT NULL" for key in keys]
    conditions.append(_time_filter(event_sql, start, end))
    # Without keys the aggregate answers one all-null row over no rows: HAVING drops it.
    grouping = f"GROUP BY {', '.join(keys)}" if keys else "HAVING count(*) > 0"
    return (
        f"SELECT {', '.join([*keys, *outputs])} FROM (SELECT "
        f"{''.join(f'{key}, ' for key in keys)}"
        f"arg_max(struct_pack({', '.join(packed)}), {order}) AS __fs_row "
        f"FROM {table} WHERE {' AND '.join(conditions)} {grouping})"
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
