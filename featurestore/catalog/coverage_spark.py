"""Coverage of a view's offline data on Spark, for repos whose offline store is Spark: the same
figures as featurestore.catalog.coverage computes with DuckDB (rows, time range, null rates,
entity coverage, histograms, top values).

Imported only when a repo selects Spark: it imports pyspark (the `spark` extra).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from featurestore.catalog.coverage import (
    CATEGORICAL_TYPES,
    HISTOGRAM_BINS,
    NUMERIC_TYPES,
    TOP_VALUES,
    Bin,
    CoverageSpec,
    ValueCount,
    ViewStats,
    view_stats,
)
from featurestore.catalog.sources import SourceFiles
from featurestore.errors import SourceDataError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def compute_view_stats_spark(
    spec: CoverageSpec, files: SourceFiles, session: SparkSession
) -> ViewStats:
    """Spark scans of the source's files: totals and ranges, entity coverage, histograms and
    top values, each over finite values where DuckDB's are."""
    began = time.perf_counter()
    try:
        frame = session.read.option("mergeSchema", "true").parquet(*map(str, files.files))
        summary = _summary(frame, spec)
        histograms = _histograms(frame, spec, summary)
        top_values = _top_values(frame, spec)
    except Exception as exc:
        raise SourceDataError(
            f"Cannot compute coverage of feature view `{spec.view}` from `{spec.source_path}` "
            f"on Spark: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}. "
            "Check that the source has the view's columns."
        ) from exc
    return view_stats(spec, files, began, summary, histograms, top_values, _time)


def _finite_double(name: str) -> Column:
    """The column as a double, null where it is NaN or infinite (DuckDB's `isfinite` filter)."""
    value = F.col(f"`{name}`").cast("double")
    finite = ~F.isnan(value) & (F.abs(value) != float("inf"))
    return F.when(finite, value)


def _summary(frame: DataFrame, spec: CoverageSpec) -> dict[str, Any]:
    # Timestamps as epoch microseconds: collected datetimes would be in the process's time zone.
    aggregates = [
        F.count(F.lit(1)).alias("rows"),
        F.min(F.unix_micros(F.col(f"`{spec.timestamp_field}`"))).alias("first_event"),
        F.max(F.unix_micros(F.col(f"`{spec.timestamp_field}`"))).alias("last_event"),
    ]
    created = spec.created_timestamp_field
    aggregates.append(
        F.max(F.unix_micros(F.col(f"`{created}`"))).alias("last_created")
        if created
        else F.lit(None).alias("last_created")
    )
    for index, (name, dtype) in enumerate(spec.features):
        aggregates.append(F.count(F.col(f"`{name}`")).alias(f"c{index}"))
        if dtype in NUMERIC_TYPES:
            value = _finite_double(name)
            aggregates += [
                F.min(value).alias(f"lo{index}"),
                F.max(value).alias(f"hi{index}"),
                F.sum(value).alias(f"s{index}"),
            ]
    row = frame.agg(*aggregates).collect()[0].asDict()
    values: dict[str, Any] = {
        key: row[key] for key in ("rows", "first_event", "last_event", "last_created")
    }
    for index, (name, _) in enumerate(spec.features):
        values[f"c:{name}"] = row[f"c{index}"]
        for part in ("lo", "hi", "s"):
            values[f"{part}:{name}"] = row.get(f"{part}{index}")
    values.update(_entity_coverage(frame, spec))
    return values


def _entity_coverage(frame: DataFrame, spec: CoverageSpec) -> dict[str, Any]:
    present = [
        F.max(F.col(f"`{name}`").isNotNull().cast("int")).alias(f"e{index}")
        for index, (name, _) in enumerate(spec.features)
    ]
    keys = [F.col(f"`{key}`") for key in spec.join_keys]
    grouped = frame.groupBy(*keys).agg(F.lit(1).alias("one"), *present)
    totals = [F.count(F.lit(1)).alias("entities")]
    totals += [F.sum(f"e{index}").alias(f"e{index}") for index in range(len(spec.features))]
    row = grouped.agg(*totals).collect()[0].asDict()
    result: dict[str, Any] = {"entities": row["entities"]}
    for index, (name, _) in enumerate(spec.features):
        result[f"e:{name}"] = row[f"e{index}"]
    return result


def _histograms(
    frame: DataFrame, spec: CoverageSpec, summary: dict[str, Any]
) -> dict[str, tuple[Bin, ...]]:
    histograms = {}
    for name, dtype in spec.features:
        low, high = summary.get(f"lo:{name}"), summary.get(f"hi:{name}")
        if dtype not in NUMERIC_TYPES or low is None or high is None:
            continue
        if dtype.startswith("Int") and high - low + 1 <= HISTOGRAM_BINS:
            start, width, bins = float(low), 1.0, int(high - low + 1)
        else:
            start, width, bins = float(low), (high - low) / HISTOGRAM_BINS or 1.0, HISTOGRAM_BINS
        value = _finite_double(name)
        bucket = F.least(F.floor((value - F.lit(start)) / F.lit(width)), F.lit(bins - 1))
        counts = {
            int(row["bucket"]): int(row["n"])
            for row in frame.where(value.isNotNull())
            .groupBy(bucket.cast("long").alias("bucket"))
            .agg(F.count(F.lit(1)).alias("n"))
            .collect()
        }
        histograms[name] = tuple(
            Bin(start + i * width, start + (i + 1) * width, counts.get(i, 0)) for i in range(bins)
        )
    return histograms


def _top_values(frame: DataFrame, spec: CoverageSpec) -> dict[str, tuple[ValueCount, ...]]:
    top: dict[str, tuple[ValueCount, ...]] = {}
    for name, dtype in spec.features:
        if dtype not in CATEGORICAL_TYPES:
            continue
        rows = (
            frame.where(F.col(f"`{name}`").isNotNull())
            .groupBy(F.col(f"`{name}`").cast("string").alias("value"))
            .agg(F.count(F.lit(1)).alias("n"))
            .orderBy(F.desc("n"), F.asc("value"))
            .limit(TOP_VALUES)
            .collect()
        )
        top[name] = tuple(ValueCount(str(row["value"]), int(row["n"])) for row in rows)
    return top


def _time(micros: Any) -> datetime | None:
    return None if micros is None else _EPOCH + timedelta(microseconds=int(micros))
