"""The batch side of a WindowSpec: DuckDB SQL computing each change point's row from events."""

from __future__ import annotations

from featurestore.aggregations.spec import Aggregation, WindowSpec
from featurestore.sql import quote_ident

_SQL_TYPES = {"int64": "BIGINT", "float64": "DOUBLE", "string": "VARCHAR"}


def _aggregate_sql(spec: WindowSpec, aggregation: Aggregation) -> str:
    window = f"w{spec.windows_us.index(aggregation.window_us)}"
    if not aggregation.column:
        return f"count(*) FILTER (WHERE __fs_is_event) OVER {window}"
    value = f"__fs_i{spec.inputs.index(aggregation.column)}"
    function = aggregation.function
    if function == "count":
        return f"count({value}) OVER {window}"
    if function == "count_distinct":
        return f"count(DISTINCT {value}) OVER {window}"
    if function == "sum":
        return f"CAST(sum({value}) OVER {window} AS BIGINT)"
    if function == "mean":
        # Exact integer sum, then one correctly rounded division, as the consumer does.
        return (
            f"CAST(sum({value}) OVER {window} AS DOUBLE) / nullif(count({value}) OVER {window}, 0)"
        )
    if function in ("min", "max"):
        return f"{function}({value}) OVER {window}"
    # last: the latest non-null value by (event time, arrival order).
    return f"arg_max({value}, __fs_order) FILTER (WHERE {value} IS NOT NULL) OVER {window}"


def backfill_sql(spec: WindowSpec, events: str, arrival_order: str) -> str:
    """Rows `(key, event_ts, created_ts, features…)` of every change point, from `events`.

    `events` is a table expression with the spec's fields; `arrival_order` is an expression over
    it giving the order the stream sees events in (e.g. topic order), for lateness and `last`.
    """
    key = quote_ident(spec.key)
    timestamp = quote_ident(spec.timestamp_field)
    inputs = ", ".join(
        f"{quote_ident(column)} AS __fs_i{n}" for n, column in enumerate(spec.inputs)
    )
    input_columns = [f"__fs_i{n}" for n in range(len(spec.inputs))]
    nulls = "".join(f", NULL AS {column}" for column in input_columns)
    carried = "".join(f", {column}" for column in input_columns)
    lateness = spec.lateness_us
    expiries = "\n    UNION ALL\n    ".join(
        f"SELECT __fs_key, __fs_t + {window}, FALSE, NULL{nulls} FROM __fs_accepted"
        for window in spec.windows_us
    )
    windows = ",\n        ".join(
        f"w{n} AS (PARTITION BY __fs_key ORDER BY __fs_t "
        f"RANGE BETWEEN {window - 1} PRECEDING AND CURRENT ROW)"
        for n, window in enumerate(spec.windows_us)
    )
    outputs = ", ".join(
        f"{_aggregate_sql(spec, a)} AS {quote_ident(a.name)}" for a in spec.aggregations
    )
    casts = ", ".join(
        f"CAST({quote_ident(a.name)} AS {_SQL_TYPES[a.output_type]}) AS {quote_ident(a.name)}"
        for a in spec.aggregations
    )
    return f"""
WITH __fs_events AS (
    SELECT CAST({key} AS VARCHAR) AS __fs_key, epoch_us({timestamp}) AS __fs_t,
        row_number() OVER (ORDER BY {arrival_order}) AS __fs_seq{", " + inputs if inputs else ""}
    FROM {events}
    WHERE {key} IS NOT NULL AND {timestamp} IS NOT NULL
), __fs_judged AS (
    SELECT *, max(__fs_t) OVER (
        PARTITION BY __fs_key ORDER BY __fs_seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
    ) AS __fs_watermark
    FROM __fs_events
), __fs_accepted AS (
    SELECT * FROM __fs_judged WHERE __fs_watermark IS NULL OR __fs_t > __fs_watermark - {lateness}
), __fs_points AS (
    SELECT __fs_key, __fs_t, TRUE AS __fs_is_event,
        (CAST(__fs_t AS HUGEINT) << 64) + __fs_seq AS __fs_order{carried}
    FROM __fs_accepted
    UNION ALL
    {expiries}
), __fs_windowed AS (
    SELECT __fs_key, __fs_t, {outputs}
    FROM __fs_points
    WINDOW {windows}
    QUALIFY row_number() OVER (PARTITION BY __fs_key, __fs_t) = 1
)
SELECT __fs_key AS {key},
    timezone('UTC', make_timestamp(__fs_t)) AS {quote_ident(spec.timestamp_field)},
    timezone('UTC', make_timestamp(__fs_t)) AS {quote_ident(spec.created_timestamp_field)},
    {casts}
FROM __fs_windowed
ORDER BY __fs_t, __fs_key
"""
