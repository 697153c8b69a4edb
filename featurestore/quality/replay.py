"""Row-level skew: replay served vectors through the point-in-time join and compare each value.

For every served vector in the serving log, the point-in-time join runs at the request's time,
as known at that time, for the same entity keys; each feature's served value is compared with
the offline one. A value served with status EXPIRED or NOT_FOUND counts as null, as the join
gives null for a row older than the view's ttl or for no row at all.

A mismatch gets the likely cause from the two event times:
- `online_older`: the online value is older than the offline one (or absent): stream lag, or a
  materialization that had not run yet;
- `online_newer`: the online value is newer than what the offline store knew at that moment
  (or the offline store had none): a stream or push ahead of the offline log, or a backfill
  whose rows were created after the request;
- `same_event_time`: both at the same event time but with different values: a pipeline bug
  (two computations, or a source changed after serving).

JSON shape: `{"replayed_rows": int, "features": [{"feature": "view:name", "compared": int,
"mismatches": int, "mismatch_rate": float, "causes": {cause: int}, "examples": [{"entity": {…},
"request_time": str, "served": {"value", "event_timestamp", "status"}, "offline": {"value",
"event_timestamp"}, "cause": str}, …]}, …]}`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal

import pyarrow as pa
from feast import FeatureStore

from featurestore.errors import ObjectNotFoundError, RetrievalError
from featurestore.offline.engine import OfflineEngine, connect
from featurestore.offline.feast_sources import view_sources
from featurestore.quality.serving import serving_log_relation

Cause = Literal["online_older", "online_newer", "same_event_time"]
CAUSES: Final[dict[str, str]] = {
    "online_older": "online older than offline (stream lag or a materialization gap)",
    "online_newer": "online newer than offline (served before the offline store knew it)",
    "same_event_time": "same event time, different value (a pipeline bug)",
}
EXAMPLES: Final = 5
_REQUEST_TIME = "__fs_request_time"


@dataclass(frozen=True)
class Mismatch:
    """One served value that differs from the point-in-time value at its request time."""

    entity: dict[str, Any]
    request_time: datetime
    served_value: Any
    served_event_timestamp: datetime | None
    served_status: str
    offline_value: Any
    offline_event_timestamp: datetime | None
    cause: Cause

    def to_json(self) -> dict[str, Any]:
        return {
            "entity": self.entity,
            "request_time": _iso(self.request_time),
            "served": {
                "value": self.served_value,
                "event_timestamp": _iso(self.served_event_timestamp),
                "status": self.served_status,
            },
            "offline": {
                "value": self.offline_value,
                "event_timestamp": _iso(self.offline_event_timestamp),
            },
            "cause": self.cause,
        }


@dataclass
class FeatureReplay:
    """How one feature's served values compare with the point-in-time join."""

    feature: str
    compared: int = 0
    mismatches: int = 0
    causes: dict[str, int] = field(default_factory=dict)
    examples: list[Mismatch] = field(default_factory=list)

    @property
    def mismatch_rate(self) -> float:
        return self.mismatches / self.compared if self.compared else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "compared": self.compared,
            "mismatches": self.mismatches,
            "mismatch_rate": round(self.mismatch_rate, 6),
            "causes": dict(sorted(self.causes.items())),
            "examples": [example.to_json() for example in self.examples],
        }


@dataclass(frozen=True)
class ReplayReport:
    """Served vectors replayed through the point-in-time join, per feature."""

    replayed_rows: int
    features: tuple[FeatureReplay, ...]
    skipped_rows: int = 0
    """Logged vectors without a feature service, which cannot be mapped back to views."""

    @property
    def mismatched(self) -> tuple[FeatureReplay, ...]:
        return tuple(feature for feature in self.features if feature.mismatches)

    def to_json(self) -> dict[str, Any]:
        return {
            "replayed_rows": self.replayed_rows,
            "features": [feature.to_json() for feature in self.features],
        }


def replay_serving_log(
    store: FeatureStore,
    log_dir: Path,
    *,
    since: datetime | None = None,
    limit: int | None = None,
    last: int | None = None,
    examples: int = EXAMPLES,
) -> ReplayReport:
    """Compare the first `limit` (or the `last`) logged vectors from `since` on with the
    point-in-time join."""
    logged = _logged_vectors(store, log_dir, since, limit, last)
    skipped = sum(table.num_rows for name, table in logged if name is None)
    per_feature: dict[str, FeatureReplay] = {}
    replayed = 0
    for service_name, table in logged:
        if service_name is None:
            continue
        replayed += table.num_rows
        _replay_service(store, service_name, table, per_feature, examples)
    return ReplayReport(replayed, tuple(per_feature.values()), skipped)


def _logged_vectors(
    store: FeatureStore,
    log_dir: Path,
    since: datetime | None,
    limit: int | None,
    last: int | None,
) -> list[tuple[str | None, pa.Table]]:
    """The log's rows in request-time order (the first `limit`, or the `last`), grouped by
    feature service."""
    with connect(store.config.offline_store) as con:
        relation = serving_log_relation(con, log_dir, since=since)
        if relation is None:
            return []
        if last is not None:
            relation = relation.order("request_time DESC, entity_key DESC").limit(last)
        ordered = relation.order("request_time, entity_key")
        table = (ordered.limit(limit) if limit is not None else ordered).to_arrow_table()
    services = table.column("feature_service").to_pylist()
    groups: dict[str | None, list[int]] = {}
    for index, name in enumerate(services):
        groups.setdefault(name, []).append(index)
    return [(name, table.take(rows)) for name, rows in groups.items()]


def _replay_service(
    store: FeatureStore,
    service_name: str,
    logged: pa.Table,
    per_feature: dict[str, FeatureReplay],
    examples: int,
) -> None:
    """Join the logged entities of one feature service at their request times and compare."""
    try:
        service = store.get_feature_service(service_name, allow_cache=True)
    except Exception as exc:  # Feast raises its own not-found class per object kind
        raise ObjectNotFoundError(
            "feature service",
            service_name,
            "the serving log names a service the registry no longer has; pass `--since` to skip "
            "its vectors",
        ) from exc
    sources = view_sources(store, service)
    entities = [json.loads(text) for text in logged.column("entity_key").to_pylist()]
    keys = list(dict.fromkeys(key for source in sources for key in source.spine_keys))
    missing = [key for key in keys if any(key not in entity for entity in entities)]
    if missing:
        raise RetrievalError(
            f"Logged vectors of `{service_name}` lack entity key(s) "
            f"{', '.join(f'`{key}`' for key in missing)}; they were served for other entities."
        )
    request_times = logged.column("request_time")
    spine = pa.table(
        {
            **{key: [entity[key] for entity in entities] for key in keys},
            _REQUEST_TIME: request_times,
        }
    )
    with OfflineEngine(store.config.offline_store) as engine:
        joined = engine.historical_features(
            spine,
            sources,
            event_timestamp_column=_REQUEST_TIME,
            as_known_at=True,
            full_feature_names=True,
            with_feature_times=True,
        )
    times = request_times.to_pylist()
    for source in sources:
        offline_times = joined.feature_times[source.name][0].to_pylist()
        for feature in source.features:
            served_name = feature
            if served_name not in logged.column_names:
                served_name = f"{source.name}__{feature}"
            if served_name not in logged.column_names:
                continue  # logged before the service gained this feature
            ref = f"{source.name}:{feature}"
            replay = per_feature.setdefault(ref, FeatureReplay(ref))
            _compare(
                replay,
                entities,
                times,
                served=logged.column(served_name).to_pylist(),
                statuses=logged.column(f"{served_name}__status").to_pylist(),
                served_times=logged.column(f"{served_name}__event_timestamp").to_pylist(),
                offline=joined.table.column(f"{source.name}__{feature}").to_pylist(),
                offline_times=offline_times,
                examples=examples,
            )


def _compare(
    replay: FeatureReplay,
    entities: Sequence[dict[str, Any]],
    request_times: Sequence[datetime],
    *,
    served: Sequence[Any],
    statuses: Sequence[str | None],
    served_times: Sequence[datetime | None],
    offline: Sequence[Any],
    offline_times: Sequence[datetime | None],
    examples: int,
) -> None:
    for row, status in enumerate(statuses):
        if status is None:  # the feature was not in this vector's request
            continue
        replay.compared += 1
        present = status == "PRESENT"
        value = served[row] if present else None
        offline_value = offline[row]
        if _same(value, offline_value):
            continue
        served_at = served_times[row] if present else None
        cause = likely_cause(served_at, offline_times[row])
        replay.mismatches += 1
        replay.causes[cause] = replay.causes.get(cause, 0) + 1
        if len(replay.examples) < examples:
            replay.examples.append(
                Mismatch(
                    entity=entities[row],
                    request_time=request_times[row],
                    served_value=served[row],
                    served_event_timestamp=served_times[row],
                    served_status=status,
                    offline_value=offline_value,
                    offline_event_timestamp=offline_times[row],
                    cause=cause,
                )
            )


def likely_cause(served_at: datetime | None, offline_at: datetime | None) -> Cause:
    """Why a served value differs from the offline one, from their event times (None: no
    value, or one older than the ttl)."""
    if served_at == offline_at:
        return "same_event_time"
    if served_at is None or (offline_at is not None and served_at < offline_at):
        return "online_older"
    return "online_newer"


def _same(served: Any, offline: Any) -> bool:
    if served is None or offline is None:
        return served is None and offline is None
    if isinstance(served, float) or isinstance(offline, float):
        try:
            a, b = float(served), float(offline)
        except (TypeError, ValueError):
            return False
        if math.isnan(a) and math.isnan(b):
            return True
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0)
    return bool(served == offline)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")
