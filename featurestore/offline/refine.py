"""The "as known at" rule as a second pass over the few spine rows it changes.

A plain ASOF join picks, per spine row at time `t`, the row of max (event, created) time with
`event <= t`. Under the rule that pick is still the answer unless it was created after `t`:
a row known no later than `t` with a larger (event, created) would have been picked instead.
The join flags the spine rows whose pick was created after `t` (exactly the rows the rule
changes, so their count is the hidden-row report), and only those are resolved here, in one
query that reads the source once and keeps the rows of the flagged keys only:

1. The same event time usually holds an earlier-created row (the original of a restatement):
   an ASOF join on (key, event time) over created time, over the rows at the flagged
   (key, event time) pairs, picks the latest one created no later than `t`.
2. The rest (no row at the pick's event time was known yet) take the window method of
   `ViewPlan.known`, over the rows of their own keys.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import duckdb
import numpy as np
import pyarrow as pa

from featurestore.offline.pit_sql import (
    SPINE,
    SPINE_TIME,
    SPINE_TIME_OUTPUT,
    ViewPlan,
    event_created_order_sql,
)
from featurestore.offline.session import arrow_query

MAX_JOINED_PAIRS = 20_000_000
"""Above this many (open spine row, row of its key) pairs, step 2 takes the window method."""
_ROW = "__fs_row"
_EVENT = "__fs_e"


def refine(
    con: duckdb.DuckDBPyConnection,
    plan: ViewPlan,
    joined: pa.Table,
    spine: pa.Table,
    spine_keys: list[str],
) -> pa.Table:
    """`joined` (the plain join's output, one row per spine row) with the rows `plan` flagged
    replaced by their answer under the rule."""
    flags = joined.column(plan.hidden_column).to_numpy()
    rows = np.flatnonzero(flags)
    if rows.size == 0:
        return joined
    indices = pa.array(rows)
    flagged = pa.table(
        {
            _ROW: indices,
            **{
                f"__fs_k{position}": spine.column(spine_keys[position]).take(indices)
                for position in plan.key_positions
            },
            SPINE_TIME: joined.column(SPINE_TIME_OUTPUT).take(indices),
            _EVENT: joined.column(plan.event_column).take(indices),
        }
    )
    # Few rows per key: join each open spine row to its key's rows; many: the window method.
    by_join = rows.size * plan.rows_per_key <= MAX_JOINED_PAIRS
    patch = _query(con, flagged, lambda name: _refine_sql(plan, name, by_join=by_join))
    return _patched(joined, patch)


def _query(
    con: duckdb.DuckDBPyConnection, rows: pa.Table, sql_for: Callable[[str], str]
) -> pa.Table:
    """The result of the query `sql_for` writes over `rows`, registered under a fresh name."""
    name = f"__featurestore_refine_{uuid.uuid4().hex}"
    con.register(name, rows)
    try:
        return arrow_query(con, sql_for(name), "The point-in-time join")
    finally:
        con.unregister(name)


def _semi_join(plan: ViewPlan, rows: str, relation: str, *extra: tuple[str, str]) -> str:
    """`rows` (aliased `r`) kept only where their keys (and `extra` pairs) are in `relation`."""
    matches = plan.key_matches("r", "f") + [f"r.{mine} = f.{theirs}" for mine, theirs in extra]
    if not matches:
        return f"SELECT * FROM {rows} AS r"
    wanted = [f"__fs_k{position}" for position in plan.key_positions] + [t for _, t in extra]
    return (
        f"SELECT r.* FROM {rows} AS r SEMI JOIN (SELECT DISTINCT {', '.join(wanted)} "
        f"FROM {relation}) AS f ON {' AND '.join(matches)}"
    )


def _outputs(plan: ViewPlan, alias: str, *, fresh: bool) -> list[str]:
    if plan.late is not None:
        values = [f"{alias}.__fs_pos"]
    else:
        values = [f"{alias}.__fs_f{j}" for j in range(len(plan.view.features))]
    values += [f"{alias}.__fs_event", f"{alias}.__fs_created"]
    if fresh:
        values = plan.fresh(values, alias)
    names = [*plan.value_columns, plan.event_column, plan.created_column]
    return [f"{SPINE}.{_ROW}", *(f"{v} AS {n}" for v, n in zip(values, names, strict=True))]


def _refine_sql(plan: ViewPlan, flagged: str, *, by_join: bool) -> str:
    """Per flagged spine row, the row of max (event, created) known at `t`.

    The source is read once, for the flagged keys only. Step 1 looks at the pick's event time
    for the latest row created no later than `t` (a missing created time is always known and
    loses every tie); step 2 resolves the spine rows step 1 left open, `by_join` (their key's
    rows visible at `t`, the best by (event, created)) or by the window method."""
    same_event = [
        *plan.key_matches(SPINE, "c"),
        f"{SPINE}.{_EVENT} = c.__fs_event",
        f"{SPINE}.{SPINE_TIME} >= c.__fs_seen",
    ]
    candidates = _semi_join(plan, "__fs_r", flagged, ("__fs_event", _EVENT))
    columns = ", ".join([_ROW, *plan.value_columns, plan.event_column, plan.created_column])
    return (
        f"WITH __fs_r AS MATERIALIZED ({_semi_join(plan, f'({plan.rows()})', flagged)}), "
        f"__fs_a AS MATERIALIZED (SELECT {', '.join(_outputs(plan, 'c', fresh=False))} "
        f"FROM {flagged} AS {SPINE} ASOF LEFT JOIN (SELECT *, "
        "coalesce(__fs_created, '-infinity'::TIMESTAMPTZ) AS __fs_seen "
        f"FROM ({candidates})) AS c ON {' AND '.join(same_event)}), "
        f"__fs_open AS MATERIALIZED (SELECT {SPINE}.* FROM {flagged} AS {SPINE} SEMI JOIN "
        f"(SELECT {_ROW} FROM __fs_a WHERE {plan.event_column} IS NULL) AS p "
        f"ON {SPINE}.{_ROW} = p.{_ROW}) "
        f"SELECT {columns} FROM __fs_a WHERE {plan.event_column} IS NOT NULL UNION ALL "
        + (_best_by_join(plan) if by_join else _best_by_window(plan))
    )


def _best_by_window(plan: ViewPlan) -> str:
    known = plan.known(_semi_join(plan, "__fs_r", "__fs_open"))
    on_known = [*plan.key_matches(SPINE, "j"), f"{SPINE}.{SPINE_TIME} >= j.__fs_known"]
    return (
        f"SELECT {', '.join(_outputs(plan, 'j', fresh=True))} FROM __fs_open AS {SPINE} "
        f"ASOF LEFT JOIN ({known}) AS j ON {' AND '.join(on_known)}"
    )


def _best_by_join(plan: ViewPlan) -> str:
    # Rows past the ttl are left out first: the best row overall is past it too then.
    values = (
        ["__fs_pos"]
        if plan.late is not None
        else [f"__fs_f{j}" for j in range(len(plan.view.features))]
    )
    packed = ", ".join(f"{name} := r.{name}" for name in [*values, "__fs_event", "__fs_created"])
    conditions = [
        *plan.key_matches(SPINE, "r"),
        f"r.__fs_event <= {SPINE}.{SPINE_TIME}",
        f"coalesce(r.__fs_created, '-infinity'::TIMESTAMPTZ) <= {SPINE}.{SPINE_TIME}",
    ]
    fresh = plan.fresh_condition("r")
    if fresh is not None:
        conditions.append(fresh)
    order = event_created_order_sql("r.__fs_event", "r.__fs_created")
    best = (
        f"SELECT {SPINE}.{_ROW}, arg_max(struct_pack({packed}), {order}) AS b "
        f"FROM __fs_open AS {SPINE} JOIN __fs_r AS r ON {' AND '.join(conditions)} "
        f"GROUP BY {SPINE}.{_ROW}"
    )
    names = [*plan.value_columns, plan.event_column, plan.created_column]
    items = [
        f"j.b.{value} AS {name}"
        for value, name in zip([*values, "__fs_event", "__fs_created"], names, strict=True)
    ]
    return (
        f"SELECT {SPINE}.{_ROW}, {', '.join(items)} FROM __fs_open AS {SPINE} "
        f"LEFT JOIN ({best}) AS j ON {SPINE}.{_ROW} = j.{_ROW}"
    )


def _patched(joined: pa.Table, patch: pa.Table) -> pa.Table:
    """`joined` with the rows `patch` names (column `__fs_row`) replaced by its values."""
    size = joined.num_rows
    index = np.arange(size, dtype=np.int64)
    index[patch.column(_ROW).to_numpy()] = size + np.arange(patch.num_rows, dtype=np.int64)
    take = pa.array(index)
    for name in patch.column_names[1:]:
        old = joined.column(name)
        new = patch.column(name).cast(old.type)
        merged = pa.chunked_array([*old.chunks, *new.chunks], old.type).take(take)
        joined = joined.set_column(joined.schema.get_field_index(name), name, merged)
    return joined
