"""Coverage of a view's offline data with DuckDB: rows, time range, null rates, entity coverage
and histograms, each a single vectorized scan."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb

from featurestore.catalog.sources import SourceFiles
from featurestore.errors import SourceDataError
from featurestore.sql import quote_ident

NUMERIC_TYPES = {"Int32", "Int64", "Float32", "Float64"}
CATEGORICAL_TYPES = {"String", "Bool"}
HISTOGRAM_BINS = 20
TOP_VALUES = 10
CACHE_FORMAT = 1


@dataclass(frozen=True)
class CoverageSpec:
    """What to measure: one view's features over its source's Parquet data."""

    view: str
    source_path: str
    join_keys: tuple[str, ...]
    timestamp_field: str
    created_timestamp_field: str | None
    features: tuple[tuple[str, str], ...]

    def cache_key(self, fingerprint: str) -> str:
        text = json.dumps([CACHE_FORMAT, dataclasses.asdict(self), fingerprint], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Bin:
    """Values in `[lower, upper)` (the last bin includes its upper bound)."""

    lower: float
    upper: float
    count: int


@dataclass(frozen=True)
class ValueCount:
    """How often one value occurs."""

    value: str
    count: int


@dataclass(frozen=True)
class FeatureStats:
    """Completeness and distribution of one feature."""

    name: str
    dtype: str
    non_null: int
    null_rate: float
    entity_coverage: float
    min: float | None
    max: float | None
    mean: float | None
    histogram: tuple[Bin, ...] = ()
    top_values: tuple[ValueCount, ...] = ()


@dataclass(frozen=True)
class ViewStats:
    """Coverage of one view's source data, and when its newest row was stamped and created."""

    view: str
    path: str
    fingerprint: str
    computed_at: datetime
    seconds: float
    rows: int
    entities: int
    first_event: datetime | None
    last_event: datetime | None
    last_created: datetime | None
    features: tuple[FeatureStats, ...]


def compute_view_stats(spec: CoverageSpec, files: SourceFiles) -> ViewStats:
    """DuckDB scans: totals and ranges, entity coverage, histograms, top values."""
    began = time.perf_counter()
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        summary = _summary(con, spec, files)
        histograms = _histograms(con, spec, files, summary)
        top_values = _top_values(con, spec, files)
    except duckdb.Error as exc:
        raise SourceDataError(
            f"Cannot compute coverage of feature view `{spec.view}` from `{spec.source_path}`: "
            f"{exc}. Check that the source has the view's columns."
        ) from exc
    finally:
        con.close()
    return view_stats(spec, files, began, summary, histograms, top_values, _utc)


def view_stats(
    spec: CoverageSpec,
    files: SourceFiles,
    began: float,
    summary: dict[str, Any],
    histograms: dict[str, tuple[Bin, ...]],
    top_values: dict[str, tuple[ValueCount, ...]],
    to_time: Callable[[Any], datetime | None],
) -> ViewStats:
    """The figures of one scan, whatever engine ran it: `summary` holds `rows`, `entities`, the
    time range (read by `to_time`) and per feature `c:`, `e:`, `lo:`, `hi:` and `s:` values."""
    rows = int(summary["rows"] or 0)
    entities = int(summary["entities"] or 0) if rows else 0
    features = []
    for name, dtype in spec.features:
        non_null = int(summary[f"c:{name}"] or 0)
        covered = int(summary[f"e:{name}"] or 0)
        features.append(
            FeatureStats(
                name=name,
                dtype=dtype,
                non_null=non_null,
                null_rate=round(1 - non_null / rows, 6) if rows else 1.0,
                entity_coverage=round(covered / entities, 6) if entities else 0.0,
                min=_number(summary.get(f"lo:{name}")),
                max=_number(summary.get(f"hi:{name}")),
                mean=_number(summary.get(f"s:{name}"), divide_by=non_null),
                histogram=histograms.get(name, ()),
                top_values=top_values.get(name, ()),
            )
        )
    return ViewStats(
        view=spec.view,
        path=spec.source_path,
        fingerprint=files.fingerprint(),
        computed_at=datetime.now(UTC),
        seconds=round(time.perf_counter() - began, 4),
        rows=rows,
        entities=entities,
        first_event=to_time(summary["first_event"]),
        last_event=to_time(summary["last_event"]),
        last_created=to_time(summary["last_created"]),
        features=tuple(features),
    )


def _summary(
    con: duckdb.DuckDBPyConnection, spec: CoverageSpec, files: SourceFiles
) -> dict[str, Any]:
    """Totals, time range and numeric ranges in one plain scan; entity coverage in a second."""
    created = quote_ident(spec.created_timestamp_field) if spec.created_timestamp_field else "NULL"
    timestamp = quote_ident(spec.timestamp_field)
    selects = [
        "count(*)",
        f"min({timestamp})",
        f"max({timestamp})",
        f"max({created})",
    ]
    names = ["rows", "first_event", "last_event", "last_created"]
    numeric = [name for name, dtype in spec.features if dtype in NUMERIC_TYPES]
    for name, _ in spec.features:
        selects.append(f"count({quote_ident(name)})")
        names.append(f"c:{name}")
    for name in numeric:
        column = f"{quote_ident(name)}::DOUBLE"
        selects += [f"min({column})", f"max({column})", f"sum({column})"]
        names += [f"lo:{name}", f"hi:{name}", f"s:{name}"]
    row = con.execute(f"SELECT {', '.join(selects)} FROM {files.table_sql}").fetchone()
    assert row is not None  # an aggregate without GROUP BY always returns one row
    values = dict(zip(names, row, strict=True))
    # NaN and infinity poison max and sum; recompute over finite values only where they occur.
    poisoned = [n for n in numeric if not _all_finite(values, n)]
    if poisoned:
        values.update(_finite_ranges(con, files, poisoned))
        values["guarded"] = poisoned
    values.update(_entity_coverage(con, spec, files))
    return values


def _all_finite(values: dict[str, Any], name: str) -> bool:
    return all(
        values[f"{part}:{name}"] is None or math.isfinite(values[f"{part}:{name}"])
        for part in ("lo", "hi", "s")
    )


def _finite_ranges(
    con: duckdb.DuckDBPyConnection, files: SourceFiles, names: list[str]
) -> dict[str, Any]:
    selects, keys = [], []
    for name in names:
        column = f"{quote_ident(name)}::DOUBLE"
        finite = f"FILTER (WHERE isfinite({column}))"
        selects += [f"min({column}) {finite}", f"max({column}) {finite}", f"sum({column}) {finite}"]
        keys += [f"lo:{name}", f"hi:{name}", f"s:{name}"]
    row = con.execute(f"SELECT {', '.join(selects)} FROM {files.table_sql}").fetchone()
    assert row is not None
    return dict(zip(keys, row, strict=True))


def _entity_coverage(
    con: duckdb.DuckDBPyConnection, spec: CoverageSpec, files: SourceFiles
) -> dict[str, Any]:
    # One hash aggregate by entity key with a bool_or per feature, rather than a
    # COUNT(DISTINCT) per feature (measured on 10M rows: ~0.6 s against ~15 s).
    inner = [
        f"bool_or({quote_ident(name)} IS NOT NULL) AS e{i}"
        for i, (name, _) in enumerate(spec.features)
    ]
    outer = ["count(*)", *(f"count(*) FILTER (WHERE e{i})" for i in range(len(spec.features)))]
    group = ", ".join(quote_ident(key) for key in spec.join_keys) or "()"
    inner_sql = f"SELECT {', '.join(['1 AS one', *inner])} FROM {files.table_sql} GROUP BY {group}"
    row = con.execute(f"SELECT {', '.join(outer)} FROM ({inner_sql})").fetchone()
    assert row is not None
    names = ["entities", *(f"e:{name}" for name, _ in spec.features)]
    return dict(zip(names, row, strict=True))


def _histograms(
    con: duckdb.DuckDBPyConnection, spec: CoverageSpec, files: SourceFiles, summary: dict[str, Any]
) -> dict[str, tuple[Bin, ...]]:
    plans: list[tuple[str, float, float, int]] = []
    for name, dtype in spec.features:
        low, high = summary.get(f"lo:{name}"), summary.get(f"hi:{name}")
        if dtype not in NUMERIC_TYPES or low is None or high is None:
            continue
        if dtype.startswith("Int") and high - low + 1 <= HISTOGRAM_BINS:
            plans.append((name, float(low), 1.0, int(high - low + 1)))
        else:
            width = (high - low) / HISTOGRAM_BINS or 1.0
            plans.append((name, float(low), width, HISTOGRAM_BINS))
    if not plans:
        return {}
    guarded = set(summary.get("guarded", ()))
    selects = []
    for name, low, width, bins in plans:
        column = f"{quote_ident(name)}::DOUBLE"
        bucket = f"least(floor(({column} - {low!r}) / {width!r}), {bins - 1})::BIGINT"
        # `least` ignores NULL, so nulls are filtered out; only columns holding NaN or
        # infinity pay for the finiteness check.
        keep = f"isfinite({column})" if name in guarded else f"{quote_ident(name)} IS NOT NULL"
        selects.append(f"histogram({bucket}) FILTER (WHERE {keep})")
    row = con.execute(f"SELECT {', '.join(selects)} FROM {files.table_sql}").fetchone()
    assert row is not None
    histograms = {}
    for (name, low, width, bins), counts in zip(plans, row, strict=True):
        counts = counts or {}
        histograms[name] = tuple(
            Bin(low + i * width, low + (i + 1) * width, int(counts.get(i, 0))) for i in range(bins)
        )
    return histograms


def _top_values(
    con: duckdb.DuckDBPyConnection, spec: CoverageSpec, files: SourceFiles
) -> dict[str, tuple[ValueCount, ...]]:
    top: dict[str, tuple[ValueCount, ...]] = {}
    for name, dtype in spec.features:
        if dtype not in CATEGORICAL_TYPES:
            continue
        column = quote_ident(name)
        rows = con.execute(
            f"SELECT {column}::VARCHAR AS value, count(*) AS n FROM {files.table_sql} "
            f"WHERE {column} IS NOT NULL GROUP BY 1 ORDER BY n DESC, value LIMIT {TOP_VALUES}"
        ).fetchall()
        top[name] = tuple(ValueCount(str(value), int(n)) for value, n in rows)
    return top


def _utc(value: Any) -> datetime | None:
    """Timestamps as aware UTC datetimes (naive Parquet timestamps are taken as UTC)."""
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _number(value: Any, divide_by: int | None = None) -> float | None:
    if value is None:
        return None
    number = float(value) / divide_by if divide_by else float(value)
    if divide_by == 0 or not math.isfinite(number):
        return None
    return number
