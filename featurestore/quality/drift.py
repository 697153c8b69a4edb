"""Drift over time: PSI and JS distance of a view's offline source, window by window, against a
reference: a training set's statistics (its bins and whole-set counts) or the first window
(binned on itself, as a training set's train split would be).

Windows are `time_bucket(window, event time)` in UTC; the rows of a window are binned in one
scan with every other window (a GROUP BY window), so the cost is one pass over the source.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
from feast import FeatureStore

from featurestore.errors import InvalidInputError
from featurestore.offline.pit_sql import utc_timestamp_sql
from featurestore.quality.metrics import binned_distances
from featurestore.quality.skew import whole_set
from featurestore.quality.stats import FeatureColumn, bin_plans, plan_bins
from featurestore.quality.validate import ValidationSpec, spec_of_view
from featurestore.sql import quote_ident

_WINDOW = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_window(text: str) -> timedelta:
    """`30m`, `6h`, `1d` or `1w` as a timedelta."""
    match = _WINDOW.match(text)
    if not match or int(match.group(1)) == 0:
        raise InvalidInputError(
            f"Window `{text}` is not a duration such as `30m`, `6h`, `1d` or `1w`.", ("window",)
        )
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


@dataclass(frozen=True)
class WindowDrift:
    """One window: its start, rows, and per feature ref its PSI and JS distance."""

    start: datetime
    rows: int
    features: dict[str, tuple[float | None, float | None]]


@dataclass(frozen=True)
class DriftReport:
    view: str
    reference: str
    window: timedelta
    windows: tuple[WindowDrift, ...]

    def series(self, ref: str, metric: str = "psi") -> list[float | None]:
        """The metric of one feature, window by window (for a sparkline)."""
        index = 0 if metric == "psi" else 1
        return [w.features.get(ref, (None, None))[index] for w in self.windows]

    def to_json(self) -> dict[str, Any]:
        return {
            "view": self.view,
            "reference": self.reference,
            "window_seconds": int(self.window.total_seconds()),
            "windows": [
                {
                    "start": w.start.isoformat(),
                    "rows": w.rows,
                    "features": [
                        {"feature": ref, "psi": _round(psi), "js": _round(js)}
                        for ref, (psi, js) in w.features.items()
                    ],
                }
                for w in self.windows
            ],
        }


def compute_drift(
    con: duckdb.DuckDBPyConnection,
    spec: ValidationSpec,
    window: timedelta,
    reference: Mapping[str, Any] | None = None,
) -> DriftReport:
    """Per-window PSI/JS of `spec`'s source against `reference` (a manifest's `statistics`
    section plus `name`) or, without one, against the first window."""
    source = con.sql(f"SELECT * FROM {spec.location.sql}")
    types = {name: str(kind) for name, kind in zip(source.columns, source.types, strict=True)}
    event = utc_timestamp_sql(quote_ident(spec.timestamp_field), types[spec.timestamp_field])
    if event is None:
        raise InvalidInputError(f"`{spec.timestamp_field}` of `{spec.view}` is not a timestamp.")
    bucket = f"time_bucket(INTERVAL '{int(window.total_seconds())} seconds', {event})"
    table = f"(SELECT {bucket} AS __window, * FROM {spec.location.sql})"
    features = [
        FeatureColumn(f"{spec.view}:{f.name}", f.name, f.dtype, f.semantics) for f in spec.features
    ]
    if reference is not None:
        wanted = {f.ref for f in features}
        plans = [p for p in bin_plans(reference["statistics"]) if p.ref in wanted]
        base = {
            plan.ref: whole_set(reference["statistics"]["features"][plan.ref]["splits"])["counts"]
            for plan in plans
        }
        label = f"training set {reference['name']}"
    else:
        first = con.execute(f"SELECT min(__window) FROM {table}").fetchall()[0][0]
        if first is None:
            return DriftReport(spec.view, "first window", window, ())
        first_sql = f"(SELECT * FROM {table} WHERE __window = '{first.isoformat()}'::TIMESTAMPTZ)"
        plans = plan_bins(con, first_sql, features)
        base = {}
        label = f"first window ({_utc(first):%Y-%m-%d %H:%M})"
    selects = ["__window", "count(*)"]
    selects += [f"histogram({plan.bucket_sql(quote_ident(plan.column))})" for plan in plans]
    rows = con.execute(
        f"SELECT {', '.join(selects)} FROM {table} GROUP BY __window ORDER BY __window"
    ).fetchall()
    histograms = [
        [
            [int((h or {}).get(b, 0)) for b in range(p.bins)]
            for p, h in zip(plans, row[2:], strict=True)
        ]
        for row in rows
    ]
    if reference is None and rows:
        base = {plan.ref: histograms[0][i] for i, plan in enumerate(plans)}
    counts = {
        f"{w}|{plan.ref}": (base[plan.ref], histograms[w][i])
        for w in range(len(rows))
        for i, plan in enumerate(plans)
    }
    distances = binned_distances(con, counts)
    windows = tuple(
        WindowDrift(
            start=_utc(row[0]),
            rows=int(row[1]),
            features={
                plan.ref: (distances[f"{w}|{plan.ref}"].psi, distances[f"{w}|{plan.ref}"].js)
                for plan in plans
            },
        )
        for w, row in enumerate(rows)
    )
    return DriftReport(spec.view, label, window, windows)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def view_drift(
    store: FeatureStore, data_dir: Path, view: str, window: timedelta, reference: str | None
) -> DriftReport:
    """Drift of feature view `view`'s source against training set `reference` (under
    `data_dir/training`) or its first window."""
    from featurestore.quality.gate import validatable_views
    from featurestore.quality.skew import read_manifest

    (feature_view,) = validatable_views(store, [view])
    spec = spec_of_view(feature_view, store.config.repo_path)
    manifest = read_manifest(data_dir / "training", reference) if reference else None
    if manifest is not None and not any(
        ref.startswith(f"{view}:") for ref in manifest["statistics"]["features"]
    ):
        raise InvalidInputError(
            f"Training set `{reference}` has no feature of view `{view}`; pick a set built "
            "with it, or leave out --reference to compare with the first window.",
            ("reference",),
        )
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        return compute_drift(con, spec, window, manifest)
