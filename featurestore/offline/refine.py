"""The second pass: the few spine rows a plain ASOF join may have answered wrongly, resolved.

A plain ASOF join picks, per spine row at time `t`, a row of max event time with `event <= t`.
That pick is the answer unless

- another row has the same key and event time (a restatement): the latest created of them
  wins, so the join, which orders rows by event time alone, may have picked the wrong one; or
- under the "as known at" rule, the pick was created after `t`: a row known no later than `t`
  with a smaller (event, created) is the answer instead. Those are exactly the rows the rule
  changes, so their count is the hidden-row report.

The join flags those spine rows, and only they are resolved here:

1. Among the rows at the pick's key and event time, an ASOF join over created time picks the
   latest one created no later than `t` (any, without the rule). The latest created of them
   says whether the rule changed the answer.
2. The rest (under the rule, no row at the pick's event time was known yet) take the best row
   of their key known at `t`: by joining them to their key's rows, or by the window method of
   `ViewPlan.known`; only the keys of late picks are read for this.

When the join resolved ties itself and flagged only picks that may have been created after
`t` (`ViewPlan.lean`), every flagged row takes the best row of its key known at `t` in one
query, and the rule changed its answer where that is another row than its pick.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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
_LATE = "__fs_late"
_HIDDEN = "__fs_hid"


def refine(
    con: duckdb.DuckDBPyConnection,
    plan: ViewPlan,
    joined: pa.Table,
    spine: pa.Table,
    spine_keys: list[str],
    spine_time: tuple[str, str],
) -> pa.Table:
    """`joined` (the plain join's output, one row per spine row) with the rows `plan` flagged
    replaced by their answer (and, under the rule, whether the rule changed it).

    `spine_time` is the spine's time column and the SQL reading it as UTC (over that column):
    a lean join (`ViewPlan.lean`) outputs neither the spine time nor the pick's times."""
    flags = joined.column(plan.open_column).to_numpy()
    rows = np.flatnonzero(flags)
    if rows.size == 0:
        return joined
    indices = pa.array(rows)
    keys = {
        f"__fs_k{position}": spine.column(spine_keys[position]).take(indices)
        for position in plan.key_positions
    }
    if plan.lean:
        # Every flagged pick was created after `t`: no times are needed to tell which.
        column, time_sql = spine_time
        flagged = pa.table({_ROW: indices, **keys, column: spine.column(column).take(indices)})
        by_join = rows.size * plan.rows_per_key <= MAX_JOINED_PAIRS
        patch = _query(
            con,
            flagged,
            lambda name: _every_late(
                plan, f"(SELECT *, {time_sql} AS {SPINE_TIME} FROM {name})", by_join=by_join
            ),
        )
        if plan.late is not None:
            # The rule changed a flagged row's answer where that is another row than its pick
            # (a pick flagged by its lag alone may have been known at `t`).
            picks = joined.column(plan.position_column).take(patch.column(_ROW))
            patch = patch.set_column(
                patch.schema.get_field_index(plan.hidden_column),
                plan.hidden_column,
                _differs(picks, patch.column(plan.position_column)),
            )
        return _patched(joined, patch)
    times = joined.column(SPINE_TIME_OUTPUT).take(indices)
    late = pc.fill_null(pc.greater(joined.column(plan.created_column).take(indices), times), False)
    flagged = pa.table(
        {
            _ROW: indices,
            **keys,
            SPINE_TIME: times,
            _EVENT: joined.column(plan.event_column).take(indices),
            _LATE: late,
        }
    )
    # Only picks created after `t` can have no row known at `t` at their event time.
    late_rows = (pc.sum(late).as_py() or 0) if plan.refines else 0
    # Few rows per key: join each open spine row to its key's rows; many: the window method.
    by_join = late_rows * plan.rows_per_key <= MAX_JOINED_PAIRS
    every = "late" if late_rows == rows.size else "some" if late_rows else "none"
    patch = _query(con, flagged, lambda name: _refine_sql(plan, name, late=every, by_join=by_join))
    return _patched(joined, patch)


def _differs(left: pa.ChunkedArray, right: pa.ChunkedArray) -> pa.ChunkedArray:
    """Per row, whether `left` and `right` differ (a null equals only a null)."""
    left, right = left.cast(pa.int64()), right.cast(pa.int64())
    same = pc.fill_null(pc.equal(left, right), False)
    both_null = pc.and_(pc.is_null(left), pc.is_null(right))
    return pc.invert(pc.or_(same, both_null))


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
    items = [f"{SPINE}.{_ROW}", *(f"{v} AS {n}" for v, n in zip(values, names, strict=True))]
    if plan.refines:
        items.append(f"{SPINE}.{_HIDDEN} AS {plan.hidden_column}")
    return items


def _refine_sql(plan: ViewPlan, flagged: str, *, late: str, by_join: bool) -> str:
    """Per flagged spine row, the row of max (event, created) (known at `t` under the rule).

    `late` says whether the picks created after `t` are every flagged row, some or none. When
    every one, `_every_late` resolves them; otherwise the source is read for the flagged (key,
    event time) pairs and, when some are late, once more for their keys."""
    if late == "late":
        return _every_late(plan, flagged, by_join=by_join)
    key_matches = plan.key_matches(SPINE, "c")
    same_event = [*key_matches, f"{SPINE}.{_EVENT} = c.__fs_event"]
    late_keys = f"(SELECT * FROM {flagged} WHERE {_LATE})"
    ctes = []
    if late != "none":
        ctes.append(f"__fs_r AS MATERIALIZED ({_semi_join(plan, f'({plan.rows()})', late_keys)})")
    candidates = _semi_join(plan, f"({plan.rows()})", flagged, ("__fs_event", _EVENT))
    # Without the rule every row at the pick's event time counts; a missing created time is
    # always known and loses every tie.
    bound = f"{SPINE}.{SPINE_TIME}" if plan.refines else "'infinity'::TIMESTAMPTZ"
    spine_items = [f"{SPINE}.*", f"{bound} AS __fs_bound"]
    spine_rows = f"{flagged} AS {SPINE}"
    if plan.refines:
        # The rule changed the answer where the latest created row at the pick's event time
        # (the plain join's answer) was created after `t`.
        keys = [f"__fs_k{position}" for position in plan.key_positions]
        latest = (
            f"SELECT {', '.join([*keys, '__fs_event'])}, max(__fs_seen) AS __fs_latest "
            f"FROM __fs_c GROUP BY ALL"
        )
        spine_items.append(f"coalesce(m.__fs_latest > {SPINE}.{SPINE_TIME}, false) AS {_HIDDEN}")
        on = [*plan.key_matches(SPINE, "m"), f"{SPINE}.{_EVENT} = m.__fs_event"]
        spine_rows += f" LEFT JOIN ({latest}) AS m ON {' AND '.join(on)}"
    columns = [_ROW, *plan.value_columns, plan.event_column, plan.created_column]
    if plan.refines:
        columns.append(plan.hidden_column)
    ctes += [
        "__fs_c AS MATERIALIZED (SELECT *, "
        "coalesce(__fs_created, '-infinity'::TIMESTAMPTZ) AS __fs_seen "
        f"FROM ({candidates}))",
        f"__fs_f AS MATERIALIZED (SELECT {', '.join(spine_items)} FROM {spine_rows})",
        f"__fs_a AS MATERIALIZED (SELECT {', '.join(_outputs(plan, 'c', fresh=False))} "
        f"FROM __fs_f AS {SPINE} ASOF LEFT JOIN __fs_c AS c ON {' AND '.join(same_event)} "
        f"AND {SPINE}.__fs_bound >= c.__fs_seen)",
    ]
    sql = f"WITH {', '.join(ctes)}"
    found = f"SELECT {', '.join(columns)} FROM __fs_a WHERE {plan.event_column} IS NOT NULL"
    if late == "none":
        return f"{sql} {found}"
    return (
        f"{sql}, __fs_open AS MATERIALIZED (SELECT {SPINE}.* FROM __fs_f AS {SPINE} SEMI JOIN "
        f"(SELECT {_ROW} FROM __fs_a WHERE {plan.event_column} IS NULL) AS p "
        f"ON {SPINE}.{_ROW} = p.{_ROW}) "
        f"{found} UNION ALL " + (_best_by_join(plan) if by_join else _best_by_window(plan))
    )


def _every_late(plan: ViewPlan, flagged: str, *, by_join: bool) -> str:
    """Every flagged pick was created after `t`, so the rule changed each answer: the best row
    of the key known at `t`. By a join, the flagged rows are the hash table and the source
    streams through it; else by the window method over their keys' rows."""
    spine = f"(SELECT *, true AS {_HIDDEN} FROM {flagged})"
    if by_join:
        # Under a ttl, the rows some spine row can see hold every candidate of a flagged row.
        rows = plan.seen_rows if plan.seen_rows is not None else f"({plan.rows()})"
        return _best_by_join(plan, spine=spine, rows=rows)
    return (
        f"WITH __fs_open AS MATERIALIZED {spine}, __fs_r AS MATERIALIZED "
        f"({_semi_join(plan, f'({plan.rows()})', '__fs_open')}) {_best_by_window(plan)}"
    )


def _best_by_window(plan: ViewPlan) -> str:
    known = plan.known(_semi_join(plan, "__fs_r", "__fs_open"))
    on_known = [*plan.key_matches(SPINE, "j"), f"{SPINE}.{SPINE_TIME} >= j.__fs_known"]
    return (
        f"SELECT {', '.join(_outputs(plan, 'j', fresh=True))} FROM __fs_open AS {SPINE} "
        f"ASOF LEFT JOIN ({known}) AS j ON {' AND '.join(on_known)}"
    )


def _best_by_join(plan: ViewPlan, *, spine: str = "__fs_open", rows: str = "__fs_r") -> str:
    """Per spine row of `spine`, the best of its key's `rows` known at its time, by one join."""
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
        f"FROM {spine} AS {SPINE} JOIN {rows} AS r ON {' AND '.join(conditions)} "
        f"GROUP BY {SPINE}.{_ROW}"
    )
    names = [*plan.value_columns, plan.event_column, plan.created_column]
    items = [
        f"j.b.{value} AS {name}"
        for value, name in zip([*values, "__fs_event", "__fs_created"], names, strict=True)
    ]
    if plan.refines:
        items.append(f"{SPINE}.{_HIDDEN} AS {plan.hidden_column}")
    return (
        f"SELECT {SPINE}.{_ROW}, {', '.join(items)} FROM {spine} AS {SPINE} "
        f"LEFT JOIN ({best}) AS j ON {SPINE}.{_ROW} = j.{_ROW}"
    )


def _patched(joined: pa.Table, patch: pa.Table) -> pa.Table:
    """`joined` with the rows `patch` names (column `__fs_row`) replaced by its values, in
    the columns `joined` has (a lean join has no times to patch)."""
    size = joined.num_rows
    index = np.arange(size, dtype=np.int64)
    index[patch.column(_ROW).to_numpy()] = size + np.arange(patch.num_rows, dtype=np.int64)
    take = pa.array(index)
    for name in patch.column_names[1:]:
        if name not in joined.column_names:
            continue
        old = joined.column(name)
        new = patch.column(name).cast(old.type)
        merged = pa.chunked_array([*old.chunks, *new.chunks], old.type).take(take)
        joined = joined.set_column(joined.schema.get_field_index(name), name, merged)
    return joined
