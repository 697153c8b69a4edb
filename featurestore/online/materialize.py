"""Materialization: the latest offline value per key, written into Redis in Feast's format.

The offline engine the repo selects picks the latest row per key (DuckDB, or Feast's Spark
offline store with `offline_store: {type: spark}`), the OnlineWriter encodes
and writes it without overwriting newer values, and the interval is recorded in the Feast
registry exactly as `feast materialize` records it, so `feast` commands keep working.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from feast import FeatureStore, FeatureView

from featurestore.errors import TerminalError
from featurestore.offline.engines import open_engine
from featurestore.offline.source import ViewSource
from featurestore.online.connection import RedisClient
from featurestore.online.writer import OnlineWriter
from featurestore.progress import Reporter, SilentReporter
from featurestore.registry import Registry, resolve_view

logger = logging.getLogger(__name__)

# Feast's fallback start for incremental runs of views whose ttl is zero (no expiry).
_DEFAULT_LOOKBACK = timedelta(weeks=52)
_EVENT_TIME = "__fs_event_timestamp"


class MaterializationError(TerminalError):
    """A materialization was asked for an interval or views it cannot process."""


@dataclass(frozen=True)
class ViewMaterialized:
    """What materializing one feature view did."""

    view: str
    start: datetime
    end: datetime
    rows: int
    written: int
    skipped_older: int
    seconds: float


def materialize(
    store: FeatureStore,
    client: RedisClient,
    start: datetime,
    end: datetime,
    *,
    views: Sequence[str] | None = None,
    reporter: Reporter | None = None,
    allow_invalid: bool = False,
    on_warning: Callable[[str], None] = logger.warning,
) -> list[ViewMaterialized]:
    """Copy the latest value per key with event time in [start, end] of each online view.

    Each view's source is validated first (see `quality.validate`): a failing view is refused
    unless it is tagged `featurestore.on_violation: warn` or `allow_invalid` is set."""
    start, end = _aware(start), _aware(end)
    if start > end:
        raise MaterializationError(
            f"The start `{start.isoformat()}` is after the end `{end.isoformat()}`; swap them."
        )
    chosen = views_to_materialize(store, views)
    _require_valid(store, chosen, allow_invalid, on_warning)
    return [
        _materialize_view(store, client, view, start, end, reporter or SilentReporter())
        for view in chosen
    ]


def materialize_incremental(
    store: FeatureStore,
    client: RedisClient,
    end: datetime,
    *,
    views: Sequence[str] | None = None,
    reporter: Reporter | None = None,
    allow_invalid: bool = False,
    on_warning: Callable[[str], None] = logger.warning,
) -> list[ViewMaterialized]:
    """Continue each view from where its last materialization ended, up to `end` (as Feast);
    views are validated first, as by `materialize`."""
    end = _aware(end)
    results = []
    chosen = views_to_materialize(store, views)
    _require_valid(store, chosen, allow_invalid, on_warning)
    for view in chosen:
        start = incremental_start(view, end)
        if start > end:
            logger.info("`%s` is materialized past %s; nothing to do", view.name, end)
            continue
        results.append(
            _materialize_view(store, client, view, start, end, reporter or SilentReporter())
        )
    return results


def _require_valid(
    store: FeatureStore,
    views: Sequence[FeatureView],
    allow_invalid: bool,
    on_warning: Callable[[str], None],
) -> None:
    from featurestore.quality.gate import require_valid

    for message in require_valid(store, [v.name for v in views], allow_invalid=allow_invalid):
        on_warning(message)


def incremental_start(view: FeatureView, end: datetime) -> datetime:
    """Where an incremental run starts: the last recorded end, else `end - ttl` (Feast's rule)."""
    if view.most_recent_end_time is not None:
        return _aware(view.most_recent_end_time)
    if view.ttl is None:
        raise MaterializationError(
            f"Feature view `{view.name}` has no ttl and was never materialized, so an "
            "incremental run has no start; run `featurestore materialize --start … --end …` first."
        )
    if view.ttl > timedelta(0):
        return end - view.ttl
    return end - _DEFAULT_LOOKBACK


def views_to_materialize(store: FeatureStore, names: Sequence[str] | None) -> list[FeatureView]:
    """The named views, or every online batch and stream feature view of the project."""
    registry = Registry(store)
    if names is None:
        return registry.feature_views(online=True)
    views = [registry.feature_view(name) for name in names]
    offline_only = [view.name for view in views if not view.online]
    if offline_only:
        raise MaterializationError(
            f"Feature view(s) {', '.join(f'`{name}`' for name in offline_only)} are not online "
            "(`online=False`), so there is nothing to materialize; drop them from the list."
        )
    return views


def _materialize_view(
    store: FeatureStore,
    client: RedisClient,
    view: FeatureView,
    start: datetime,
    end: datetime,
    reporter: Reporter,
) -> ViewMaterialized:
    began = time.perf_counter()
    task = f"materialize {view.name}"
    engine = open_engine(store)
    try:
        latest = engine.latest(
            latest_source(store, view), start, end, event_timestamp_column=_EVENT_TIME
        )
    finally:
        engine.close()
    reporter.start(task, total=latest.num_rows)
    key_ttl_seconds = getattr(store.config.online_store, "key_ttl_seconds", None)
    writer = OnlineWriter(client, store.project, key_ttl_seconds=key_ttl_seconds)
    result = writer.write(
        view,
        latest,
        event_timestamp_column=_EVENT_TIME,
        progress=lambda rows: reporter.advance(task, rows),
    )
    store.registry.apply_materialization(view, store.project, start, end)
    reporter.finish(task)
    done = ViewMaterialized(
        view=view.name,
        start=start,
        end=end,
        rows=latest.num_rows,
        written=result.written,
        skipped_older=result.skipped_older,
        seconds=time.perf_counter() - began,
    )
    logger.info("materialized %s", done)
    return done


def latest_source(store: FeatureStore, view: FeatureView) -> ViewSource:
    """Where a view's latest values come from: its Parquet batch source and columns (the
    created time always breaks ties between rows of one event time)."""
    return resolve_view(view, None, store.config.repo_path).view_source(knowledge_time=False)


def _aware(moment: datetime) -> datetime:
    """`moment` in UTC; a naive datetime is read as UTC, as Feast does."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
