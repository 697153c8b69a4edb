"""Serving at a simulated clock: replay a spine as live traffic against a private online store.

The clock walks the spine's request times in order. At each tick, every feature view of the
service gets the rows that became *known* since the previous tick (event time and created time
both at or before the tick; a source tagged `featurestore.knowledge_time: ignore` only needs its
event time), written through the online writer, which never overwrites a newer event time. So
Redis holds, per key, the row of max (event, created) time visible at the tick: exactly the row
the point-in-time join picks at that time. Then each request at the tick is read through the
online client, with the ttl judged at the request's time, and logged with that request time.

By default there is one tick per distinct request time, so each batch value served equals the
offline point-in-time value at its request time. With `step`, the clock ticks every `step` from
the first request and a request waits for no materialization after the last tick before it:
values then lag by up to a step, as a periodic materialization job makes them lag.

Stream feature views are fed from their offline rows (the batch backfill and what consumers
appended), up to each tick, instead of replaying their topic through Kafka: their events
reach Redis through the same writer, at the time they were known.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from feast import FeatureStore, FeatureView, StreamFeatureView

from featurestore.errors import RetrievalError
from featurestore.offline.engine import OfflineEngine
from featurestore.offline.feast_sources import KNOWLEDGE_TIME_TAG
from featurestore.offline.session import arrow_query
from featurestore.offline.source import ViewSource, check_source
from featurestore.offline.table_queries import latest_rows_sql
from featurestore.online.client import OnlineClient, Status
from featurestore.online.connection import RedisClient
from featurestore.online.materialize import latest_source, views_to_materialize
from featurestore.online.serving_log import ServingLog
from featurestore.online.writer import OnlineWriter
from featurestore.progress import Reporter, SilentReporter
from featurestore.sql import quote_ident, quote_literal

TASK = "Simulate serving"
_TICK = "__fs_tick"
EVENT_TIME = "__fs_event_timestamp"
_EVENT = EVENT_TIME


@dataclass(frozen=True)
class SimulationResult:
    """What a simulated serving run did."""

    feature_service: str
    requests: int
    ticks: int
    first_request: datetime | None
    last_request: datetime | None
    written: dict[str, int]
    """Rows written into the online store, per feature view."""
    statuses: dict[str, int]
    """Served values by status (PRESENT, NOT_FOUND, EXPIRED) over every feature."""
    stream_views: tuple[str, ...]
    """Stream feature views of the service, fed from their offline rows."""
    log_dir: Path
    logged: int
    seconds: float
    views: tuple[str, ...] = field(default=())


def request_ticks(times: Sequence[datetime], step: timedelta | None) -> list[datetime]:
    """For each request time (sorted), the clock tick it is served after: itself without a
    step, else the last tick of `first + k * step` at or before it."""
    if step is None or not times:
        return list(times)
    if step <= timedelta(0):
        raise RetrievalError(f"The step `{step}` is not positive; pass e.g. `1h` or `15m`.")
    first = times[0]
    return [first + ((moment - first) // step) * step for moment in times]


def simulate_serving(
    store: FeatureStore,
    client: RedisClient,
    feature_service: str,
    spine: str | Path | pa.Table,
    *,
    log_dir: Path,
    event_timestamp_column: str = "event_timestamp",
    limit: int | None = None,
    step: timedelta | None = None,
    reporter: Reporter | None = None,
) -> SimulationResult:
    """Serve the spine's rows in time order at their own times, logging every served vector.

    `client` must be an online store of its own (the simulation writes 2013's values into
    it); `log_dir` receives the serving log."""
    reporter = reporter or SilentReporter()
    began = time.perf_counter()
    online = OnlineClient(store, client, purpose="serving")
    plan = online.plan(feature_service)
    views = views_to_materialize(store, [view.name for view in plan.views])
    with OfflineEngine(store.config.offline_store) as engine:
        requests = _spine_requests(
            engine.connection, spine, plan.request_keys, event_timestamp_column, limit
        )
        times = requests.column(event_timestamp_column).to_pylist()
        ticks = request_ticks(times, step)
        distinct = sorted(set(ticks))
        batches = {
            view.name: batches_per_tick(engine.connection, _known_source(store, view), distinct)
            for view in views
        }
    writer = OnlineWriter(client, store.project)
    written = dict.fromkeys((view.name for view in views), 0)
    statuses = dict.fromkeys((str(status) for status in Status), 0)
    entities = requests.select(list(plan.request_keys)).to_pylist()
    log = ServingLog(log_dir, sample_rate=1.0, queue_size=max(len(times), 1) + 1)
    reporter.start(TASK, total=len(times))
    with log:
        position = 0
        for tick in distinct:
            for view in views:
                batch = batches[view.name].get(tick)
                if batch is not None:
                    done = writer.write(view, batch, event_timestamp_column=_EVENT)
                    written[view.name] += done.written
            while position < len(times) and ticks[position] == tick:
                moment = times[position]
                result = online.read(plan, [entities[position]], now=moment)
                log.record(result, request_time=moment)
                for column in result.statuses.values():
                    for status in column:
                        statuses[str(status)] += 1
                position += 1
                reporter.advance(TASK)
    online.close()
    reporter.finish(TASK)
    return SimulationResult(
        feature_service=feature_service,
        requests=len(times),
        ticks=len(distinct),
        first_request=times[0] if times else None,
        last_request=times[-1] if times else None,
        written=written,
        statuses=statuses,
        stream_views=tuple(v.name for v in views if isinstance(v, StreamFeatureView)),
        log_dir=log_dir,
        logged=log.written_vectors,
        seconds=time.perf_counter() - began,
        views=tuple(view.name for view in views),
    )


def _spine_requests(
    con: duckdb.DuckDBPyConnection,
    spine: str | Path | pa.Table,
    keys: Sequence[str],
    time_column: str,
    limit: int | None,
) -> pa.Table:
    """The spine's entity keys and times as UTC, sorted by time (ties in spine order)."""
    name = f"__fs_simulated_spine_{uuid.uuid4().hex}"
    try:
        if isinstance(spine, pa.Table):
            relation = con.from_arrow(spine)
        elif isinstance(spine, Path) or str(spine).strip().lower().endswith(".parquet"):
            relation = con.sql(f"SELECT * FROM read_parquet({quote_literal(str(spine).strip())})")
        else:
            relation = con.sql(str(spine))
    except duckdb.Error as exc:
        raise RetrievalError(
            f"Cannot read the spine `{spine}`: {exc}. Pass a Parquet file or a DuckDB query."
        ) from exc
    missing = [column for column in (*keys, time_column) if column not in relation.columns]
    if missing:
        raise RetrievalError(
            f"The spine has no column(s) {', '.join(f'`{c}`' for c in missing)}; its columns are "
            f"{', '.join(f'`{c}`' for c in relation.columns)}. Add the service's entity keys, "
            "or name the time column with `--event-time`."
        )
    con.register(name, relation)
    try:
        stamp = f"CAST({quote_ident(time_column)} AS TIMESTAMPTZ)"
        kinds = dict(zip(relation.columns, (str(t) for t in relation.types), strict=True))
        if kinds[time_column] in ("TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S"):
            stamp = f"timezone('UTC', {quote_ident(time_column)})"
        selected = ", ".join(quote_ident(key) for key in keys)
        sql = (
            f"SELECT {selected}{', ' if keys else ''}{stamp} AS {quote_ident(time_column)} "
            f"FROM (SELECT *, row_number() OVER () AS __fs_order FROM {quote_ident(name)}) "
            f"WHERE {quote_ident(time_column)} IS NOT NULL "
            f"ORDER BY {quote_ident(time_column)}, __fs_order"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return arrow_query(con, sql, "Reading the spine")
    finally:
        con.unregister(name)


def batches_per_tick(
    con: duckdb.DuckDBPyConnection, source: ViewSource, ticks: Sequence[datetime]
) -> dict[datetime, pa.Table]:
    """Per tick (sorted), the latest row per key among the rows that became known since the
    previous tick (all earlier ones for the first): what an incremental materialization at it
    writes. Columns: join keys, features, then the event time as `__fs_event_timestamp`."""
    if not ticks:
        return {}
    checked = check_source(con, source)
    known_at = checked.event_sql
    if checked.created_sql is not None:
        known_at = f"greatest({checked.event_sql}, coalesce({checked.created_sql}, {known_at}))"
    ticks_name = f"__fs_ticks_{uuid.uuid4().hex}"
    con.register(ticks_name, pa.table({_TICK: pa.array(ticks, pa.timestamp("us", tz="UTC"))}))
    try:
        last = quote_literal(ticks[-1].astimezone(UTC).isoformat())
        # The first tick at or after the moment a row became known is when it is written.
        stepped = (
            f"(SELECT __fs_src.*, __fs_ticks.{_TICK} FROM (SELECT *, {known_at} AS __fs_known "
            f"FROM {source.table} WHERE {known_at} <= {last}::TIMESTAMPTZ) AS __fs_src "
            f"ASOF JOIN {quote_ident(ticks_name)} AS __fs_ticks "
            f"ON __fs_src.__fs_known <= __fs_ticks.{_TICK})"
        )
        sql = latest_rows_sql(
            stepped,
            (*source.join_keys, _TICK),
            source.features,
            event_sql=checked.event_sql,
            created_sql=checked.created_sql,
            start=None,
            end=None,
            event_name=_EVENT,
        )
        table = arrow_query(
            con, f"{sql} ORDER BY {_TICK}", f"Stepping feature view `{source.name}`"
        )
    finally:
        con.unregister(ticks_name)
    return _split_by_tick(table)


def _known_source(store: FeatureStore, view: FeatureView) -> ViewSource:
    """The view's source, with no created time when its tag says created times only break ties
    (then a row is known at its event time, as the point-in-time join treats it)."""
    source = latest_source(store, view)
    batch = view.batch_source
    if batch is not None and batch.tags.get(KNOWLEDGE_TIME_TAG) == "ignore":
        return ViewSource(
            name=source.name,
            location=source.location,
            join_keys=source.join_keys,
            features=source.features,
            timestamp_field=source.timestamp_field,
        )
    return source


def _split_by_tick(table: pa.Table) -> dict[datetime, pa.Table]:
    """The rows of a table sorted by tick, as one table per tick (without the tick column)."""
    if table.num_rows == 0:
        return {}
    ticks = table.column(_TICK)
    runs = pc.run_end_encode(ticks.combine_chunks())
    ends: list[Any] = runs.run_ends.to_pylist()
    values: list[Any] = runs.values.to_pylist()
    rows = table.drop_columns([_TICK])
    batches, start = {}, 0
    for end, tick in zip(ends, values, strict=True):
        batches[tick] = rows.slice(start, end - start)
        start = end
    return batches
