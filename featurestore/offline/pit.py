"""Point-in-time correct feature retrieval on DuckDB's native `ASOF LEFT JOIN`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import partial

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from featurestore.errors import RetrievalError
from featurestore.offline.gather import gather, positional_source
from featurestore.offline.pit_sql import ViewPlan, point_in_time_sql, utc_timestamp_sql
from featurestore.offline.profile import PRUNE_BELOW_SHARE, SourceProfile, profile_source
from featurestore.offline.refine import refine
from featurestore.offline.session import arrow_query
from featurestore.offline.source import ViewSource, check_source
from featurestore.sql import quote_ident


@dataclass
class PointInTimeResult:
    """The spine with its features, and per view how many spine rows the knowledge rule changed."""

    table: pa.Table
    hidden_by_knowledge_time: dict[str, int] = field(default_factory=dict)
    feature_times: dict[str, tuple[pa.ChunkedArray, pa.ChunkedArray]] = field(default_factory=dict)
    """Per view, the event and created time of the row each spine row got (null when none)."""


def point_in_time_join(
    con: duckdb.DuckDBPyConnection,
    spine: pa.Table | str,
    views: Sequence[ViewSource],
    *,
    event_timestamp_column: str = "event_timestamp",
    as_known_at: bool = True,
    full_feature_names: bool = False,
    with_feature_times: bool = False,
) -> PointInTimeResult:
    """Each spine row with, per view, the feature row of max (event, created) time visible at
    its time `t`: `event_ts <= t`, within the ttl, and with `as_known_at` `created_ts <= t`."""
    spine_table = _spine_table(con, spine)
    spine_columns = list(spine_table.column_names)
    if event_timestamp_column not in spine_columns:
        raise RetrievalError(
            f"The entity dataframe has no `{event_timestamp_column}` column; pass the name of its "
            "event time column as `event_timestamp_column`."
        )
    output_names = _output_names(views, spine_columns, full_feature_names)

    spine_keys = list(dict.fromkeys(key for view in views for key in view.spine_keys))
    for key in spine_keys:
        if key not in spine_columns:
            users = ", ".join(f"`{view.name}`" for view in views if key in view.spine_keys)
            raise RetrievalError(
                f"The entity dataframe has no `{key}` column, a join key of feature view(s) "
                f"{users}; add it to the entity dataframe."
            )

    relation_name = f"__featurestore_spine_{uuid.uuid4().hex}"
    con.register(relation_name, spine_table.select([*spine_keys, event_timestamp_column]))
    registered = [relation_name]
    table = spine_table
    hidden: dict[str, int] = {}
    times: dict[str, tuple[pa.ChunkedArray, pa.ChunkedArray]] = {}
    try:
        spine_types = _column_types(con, quote_ident(relation_name), "the entity dataframe")
        spine_time = spine_types[event_timestamp_column]
        spine_time_sql = utc_timestamp_sql(quote_ident(event_timestamp_column), spine_time)
        if spine_time_sql is None:
            raise RetrievalError(
                f"Column `{event_timestamp_column}` of the entity dataframe has type "
                f"`{spine_time}`; it must be a timestamp or a date."
            )
        plans = [
            _plan(
                con,
                view,
                spine_keys,
                as_known_at=as_known_at,
                with_feature_times=with_feature_times,
                index=index,
                registered=registered,
                spine_rows=spine_table.num_rows,
            )
            for index, view in enumerate(views)
        ]
        # One query per view: each sorts one view's rows, so memory holds one view at a time.
        # A view over a Parquet file is finished (its late picks resolved on a cursor of its
        # own, its features read by position) while DuckDB joins the next view, so both cores
        # stay busy; the columns are appended in view order.
        outputs: list[Future[_ViewOutput] | _ViewOutput] = []
        spine_column = (event_timestamp_column, spine_time_sql)
        with (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="featurestore-view") as pool,
            con.cursor() as cursor,
        ):
            for plan in plans:
                seen = None
                if plan.shares_seen_rows:
                    # Read once: the join sorts them, the second pass looks its keys up in them.
                    seen_sql = plan.seen_rows_sql(relation_name, spine_time_sql, spine_keys)
                    seen = arrow_query(con, seen_sql, "The point-in-time join")
                    seen_name = f"__featurestore_seen_{uuid.uuid4().hex}"
                    plan = replace(plan, seen_rows=seen_name)
                    con.register(seen_name, seen)
                sql = point_in_time_sql(relation_name, spine_keys, spine_time_sql, [plan])
                try:
                    joined = arrow_query(con, sql, "The point-in-time join")
                finally:
                    if plan.seen_rows is not None:
                        con.unregister(plan.seen_rows)
                if plan.late is not None:
                    finish = partial(_finish, cursor, plan, joined, spine_table, spine_keys)
                    outputs.append(
                        pool.submit(finish, spine_column, with_feature_times, seen_rows=seen)
                    )
                    del seen
                else:
                    outputs.append(
                        _finish(
                            con,
                            plan,
                            joined,
                            spine_table,
                            spine_keys,
                            spine_column,
                            with_feature_times,
                        )
                    )
                del joined
            for output, names, plan in zip(outputs, output_names, plans, strict=True):
                done = output.result() if isinstance(output, Future) else output
                for name, array in zip(names, done.arrays, strict=True):
                    table = table.append_column(name, array)
                hidden[plan.view.name] = done.hidden
                if done.times is not None:
                    times[plan.view.name] = done.times
    finally:
        for name in registered:
            con.unregister(name)

    return PointInTimeResult(table=table, hidden_by_knowledge_time=hidden, feature_times=times)


@dataclass(frozen=True)
class _ViewOutput:
    arrays: list[pa.ChunkedArray]
    hidden: int
    times: tuple[pa.ChunkedArray, pa.ChunkedArray] | None


def _finish(
    con: duckdb.DuckDBPyConnection,
    plan: ViewPlan,
    joined: pa.Table,
    spine_table: pa.Table,
    spine_keys: list[str],
    spine_time: tuple[str, str],
    with_feature_times: bool,
    seen_rows: pa.Table | None = None,
) -> _ViewOutput:
    """A view's joined rows made final: the second pass (over `seen_rows` when the plan reads
    them), then its features (read by position from its file, or taken from the join), its
    hidden-row count and its rows' times."""
    if plan.second_pass:
        if seen_rows is not None and plan.seen_rows is not None:
            con.register(plan.seen_rows, seen_rows)
        try:
            joined = refine(con, plan, joined, spine_table, spine_keys, spine_time)
        finally:
            if seen_rows is not None and plan.seen_rows is not None:
                con.unregister(plan.seen_rows)
    if plan.late is not None:
        values = gather(plan.late, plan.view.features, joined.column(plan.position_column))
        arrays = [values.column(j) for j in range(values.num_columns)]
    else:
        arrays = [joined.column(plan.output_column(j)) for j in range(len(plan.view.features))]
    hidden = 0
    if plan.knowledge_rule:
        hidden = pc.sum(joined.column(plan.hidden_column)).as_py() or 0
    times = None
    if with_feature_times:
        times = (joined.column(plan.event_column), joined.column(plan.created_column))
    return _ViewOutput(arrays=arrays, hidden=hidden, times=times)


def _spine_table(con: duckdb.DuckDBPyConnection, spine: pa.Table | str) -> pa.Table:
    """The spine as an Arrow table; a table expression is read once through DuckDB."""
    if isinstance(spine, pa.Table):
        return spine
    try:
        return con.sql(f"SELECT * FROM {spine}").to_arrow_table()
    except duckdb.Error as exc:
        raise RetrievalError(
            f"Cannot read the entity dataframe `{spine}`: {exc}. Pass an Arrow table or a DuckDB "
            "table expression such as `read_parquet('/path/entities.parquet')`."
        ) from exc


def _output_names(
    views: Sequence[ViewSource], spine_columns: list[str], full_feature_names: bool
) -> list[list[str]]:
    """The output column name of every feature, refusing any name that would appear twice."""
    owners = dict.fromkeys(spine_columns, "a column of the entity dataframe")
    names_per_view = []
    for view in views:
        names = []
        for feature in view.features:
            name = f"{view.name}__{feature}" if full_feature_names else feature
            if name in owners:
                hint = (
                    "rename the column"
                    if full_feature_names
                    else "pass `full_feature_names=True` to prefix features with their view name"
                )
                raise RetrievalError(
                    f"Feature `{feature}` of view `{view.name}` would be output as `{name}`, "
                    f"which is already {owners[name]}; {hint}."
                )
            owners[name] = f"feature `{feature}` of view `{view.name}`"
            names.append(name)
        names_per_view.append(names)
    return names_per_view


def _column_types(con: duckdb.DuckDBPyConnection, table: str, what: str) -> dict[str, str]:
    """Column names and DuckDB type names of a table expression, without reading its rows."""
    try:
        relation = con.sql(f"SELECT * FROM {table}")
    except duckdb.Error as exc:
        raise RetrievalError(f"Cannot read {what} from `{table}`: {exc}") from exc
    return {name: str(kind) for name, kind in zip(relation.columns, relation.types, strict=True)}


def _plan(
    con: duckdb.DuckDBPyConnection,
    view: ViewSource,
    spine_keys: list[str],
    *,
    as_known_at: bool,
    with_feature_times: bool,
    index: int,
    registered: list[str],
    spine_rows: int,
) -> ViewPlan:
    """Check a view's columns and timestamp types and describe how to join it (registering
    the relations it needs on `con`, their names appended to `registered`)."""
    checked = check_source(con, view)
    # Without a created time there is neither a tie to break nor a knowledge rule to apply.
    profile = (
        profile_source(con, view.location, view.join_keys, checked.event_sql, checked.created_sql)
        if checked.created_sql is not None
        else SourceProfile(event_ties=False, late_created=False)
    )
    ties, winners = None, False
    pairs = profile.tied_pairs
    if pairs is not None and pairs.num_rows > 0:
        ties = f"__featurestore_ties_{uuid.uuid4().hex}"
        con.register(ties, pairs)
        registered.append(ties)
        winners = "__fs_win" in pairs.column_names
    return ViewPlan(
        view=view,
        ties=ties,
        tie_winners=winners,
        late=positional_source(con, view.location.positional_file, view.table, view.features),
        index=index,
        key_positions=tuple(spine_keys.index(key) for key in view.spine_keys),
        event_sql=checked.event_sql,
        created_sql=checked.created_sql,
        as_known_at=as_known_at,
        event_ties=profile.event_ties,
        late_created=profile.late_created,
        backfilled=profile.backfilled,
        rows_per_key=profile.rows_per_key,
        single_lag_us=profile.single_lag_us,
        prune=view.ttl is not None
        and view.ttl > timedelta(0)
        and profile.seen_share(spine_rows, view.ttl // timedelta(microseconds=1))
        < PRUNE_BELOW_SHARE,
        with_feature_times=with_feature_times,
    )
