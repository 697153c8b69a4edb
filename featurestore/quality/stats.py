"""Reference statistics of a training set, per split, computed by DuckDB over the split files.

Per feature: count, nulls and null rate, and a binned distribution that skew and drift compare
against:
- numeric features get `BINS` bins. With a declared `min` and `max` the bins split that range
  evenly (`method: declared_range`); otherwise their edges are the train split's deciles
  (`method: quantile`, repeated edges dropped). The first and last bins are open-ended, so every
  finite value falls in exactly one bin: the bin of `v` is the number of edges `<= v` (numpy's
  `searchsorted(edges, v, side="right")`). NaN and ±inf count as nulls. Quantiles are stored too.
- categorical features (strings, booleans) get the train split's `TOP_K` most frequent values
  plus one `other` bin for the rest (so the last bin is `other`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import duckdb

from featurestore.metadata import FieldSemantics
from featurestore.sql import quote_ident, quote_literal

STATS_FORMAT = 1
BINS = 10
TOP_K = 20
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
NUMERIC_TYPES = {"Int32", "Int64", "Float32", "Float64"}
OTHER = "__other__"

Kind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class FeatureColumn:
    """A feature of the set: its `view:name` ref, column in the split files, type, semantics."""

    ref: str
    column: str
    dtype: str
    semantics: FieldSemantics


@dataclass(frozen=True)
class BinPlan:
    """How a feature's values are binned: numeric edges or categorical values (+ other)."""

    ref: str
    column: str
    kind: Kind
    method: str
    edges: tuple[float, ...] = ()
    categories: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    allowed: tuple[str, ...] | None = None

    @property
    def bins(self) -> int:
        return len(self.edges) + 1 if self.kind == "numeric" else len(self.categories) + 1

    def value_sql(self, column_sql: str) -> str:
        """The value as the bins see it: finite DOUBLE or VARCHAR; NULL for null/NaN/inf."""
        if self.kind == "numeric":
            number = f"CAST({column_sql} AS DOUBLE)"
            return f"CASE WHEN isfinite({number}) THEN {number} END"
        return f"CAST({column_sql} AS VARCHAR)"

    def bucket_sql(self, column_sql: str) -> str:
        """The 0-based bin of a value (NULL for null, NaN or infinite values)."""
        return self.bucket_of_value_sql(self.value_sql(column_sql))

    def bucket_of_value_sql(self, value: str) -> str:
        """The 0-based bin of an expression already cleaned by `value_sql` (NULL stays NULL):
        cheaper when the value is projected once and binned from that column."""
        if self.kind == "numeric":
            if not self.edges:
                return f"CASE WHEN {value} IS NOT NULL THEN 0 END"
            steps = " + ".join(f"({value} >= {edge!r})::INTEGER" for edge in self.edges)
            return f"CASE WHEN {value} IS NOT NULL THEN {steps} END"
        if not self.categories:
            return f"CASE WHEN {value} IS NOT NULL THEN 0 END"
        cases = " ".join(
            f"WHEN {quote_literal(category)} THEN {index}"
            for index, category in enumerate(self.categories)
        )
        other = len(self.categories)
        return f"CASE {value} {cases} ELSE CASE WHEN {value} IS NOT NULL THEN {other} END END"

    def out_of_range_sql(self, column_sql: str, *, cleaned: bool = False) -> str | None:
        """True for a non-null value outside the declared range or allowed values
        (`cleaned`: the column already holds `value_sql` of the values)."""
        value = column_sql if cleaned else self.value_sql(column_sql)
        if self.kind == "numeric":
            parts = []
            if self.min is not None:
                parts.append(f"{value} < {self.min!r}")
            if self.max is not None:
                parts.append(f"{value} > {self.max!r}")
            return " OR ".join(parts) or None
        if self.allowed is not None:
            listed = ", ".join(quote_literal(v) for v in self.allowed)
            return f"{value} NOT IN ({listed})"
        return None

    def labels(self) -> list[str]:
        """A readable label per bin: `[lo, hi)` ranges or category values."""
        if self.kind == "categorical":
            return [*self.categories, "other"]
        bounds = [-math.inf, *self.edges, math.inf]
        return [f"[{low:g}, {high:g})" for low, high in itertools.pairwise(bounds)]

    def to_json(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "kind": self.kind,
            "method": self.method,
            "edges": list(self.edges),
            "categories": list(self.categories),
            "min": self.min,
            "max": self.max,
            "allowed": list(self.allowed) if self.allowed is not None else None,
        }

    @classmethod
    def from_json(cls, ref: str, raw: Mapping[str, Any]) -> BinPlan:
        allowed = raw.get("allowed")
        return cls(
            ref=ref,
            column=raw["column"],
            kind=raw["kind"],
            method=raw["method"],
            edges=tuple(float(edge) for edge in raw.get("edges", ())),
            categories=tuple(raw.get("categories", ())),
            min=raw.get("min"),
            max=raw.get("max"),
            allowed=tuple(allowed) if allowed is not None else None,
        )


def plan_bins(
    con: duckdb.DuckDBPyConnection, train_sql: str, features: Sequence[FeatureColumn]
) -> list[BinPlan]:
    """Bins of each feature from its declared range, else from the train split (`train_sql`)."""
    plans: list[BinPlan] = []
    quantile_of: dict[str, list[float]] = {}
    needs_quantiles = [
        f
        for f in features
        if f.dtype in NUMERIC_TYPES and (f.semantics.min is None or f.semantics.max is None)
    ]
    if needs_quantiles:
        levels = [i / BINS for i in range(1, BINS)]
        selects = []
        for feature in needs_quantiles:
            value = BinPlan(feature.ref, feature.column, "numeric", "").value_sql(
                quote_ident(feature.column)
            )
            selects.append(f"quantile_cont({value}, {levels!r})")
        row = con.execute(f"SELECT {', '.join(selects)} FROM {train_sql}").fetchall()[0]
        assert row is not None
        for feature, values in zip(needs_quantiles, row, strict=True):
            quantile_of[feature.ref] = sorted(set(values or ()))
    for feature in features:
        rules = feature.semantics
        if feature.dtype in NUMERIC_TYPES:
            if rules.min is not None and rules.max is not None and rules.max > rules.min:
                width = (rules.max - rules.min) / BINS
                edges = tuple(round(rules.min + width * i, 10) for i in range(1, BINS))
                method = "declared_range"
            else:
                edges, method = tuple(quantile_of.get(feature.ref, ())), "quantile"
            plans.append(
                BinPlan(
                    feature.ref,
                    feature.column,
                    "numeric",
                    method,
                    edges=edges,
                    min=rules.min,
                    max=rules.max,
                )
            )
            continue
        column = quote_ident(feature.column)
        rows = con.execute(
            f"SELECT CAST({column} AS VARCHAR) AS value, count(*) AS n FROM {train_sql} "
            f"WHERE {column} IS NOT NULL GROUP BY 1 ORDER BY n DESC, value LIMIT {TOP_K}"
        ).fetchall()
        plans.append(
            BinPlan(
                feature.ref,
                feature.column,
                "categorical",
                "top_k",
                categories=tuple(str(value) for value, _ in rows),
                allowed=rules.allowed,
            )
        )
    return plans


def distribution_sql(
    plans: Sequence[BinPlan], table_sql: str, column_of: Mapping[str, str] | None = None
) -> str:
    """One aggregate row over `table_sql`: per plan its rows, nulls and bin histogram (a MAP),
    reading the column `column_of[ref]` (default: the plan's column)."""
    selects = ["count(*)"]
    for plan in plans:
        column = quote_ident((column_of or {}).get(plan.ref, plan.column))
        selects.append(f"count(*) FILTER (WHERE ({plan.value_sql(column)}) IS NULL)")
        selects.append(f"histogram({plan.bucket_sql(column)})")
    return f"SELECT {', '.join(selects)} FROM {table_sql}"


def split_statistics(
    con: duckdb.DuckDBPyConnection, table_sql: str, plans: Sequence[BinPlan]
) -> dict[str, dict[str, Any]]:
    """Per feature ref: count, nulls, null rate, bin counts; numeric also min/max/mean and
    quantiles. Two scans: the histograms, then the numeric summaries."""
    row = con.execute(distribution_sql(plans, table_sql)).fetchall()[0]
    assert row is not None
    rows = int(row[0])
    stats: dict[str, dict[str, Any]] = {}
    for index, plan in enumerate(plans):
        nulls = int(row[1 + 2 * index])
        histogram = row[2 + 2 * index] or {}
        stats[plan.ref] = {
            "count": rows,
            "nulls": nulls,
            "null_rate": round(nulls / rows, 6) if rows else None,
            "counts": [int(histogram.get(b, 0)) for b in range(plan.bins)],
        }
    numeric = [plan for plan in plans if plan.kind == "numeric"]
    if numeric:
        selects = []
        for plan in numeric:
            value = plan.value_sql(quote_ident(plan.column))
            selects += [
                f"min({value})",
                f"max({value})",
                f"avg({value})",
                f"quantile_cont({value}, {list(QUANTILES)!r})",
            ]
        summary = con.execute(f"SELECT {', '.join(selects)} FROM {table_sql}").fetchall()[0]
        assert summary is not None
        for index, plan in enumerate(numeric):
            low, high, mean, quantiles = summary[4 * index : 4 * index + 4]
            stats[plan.ref].update(
                {
                    "min": low,
                    "max": high,
                    # Parallel sums differ in the last bits between runs; rounding keeps
                    # the manifest byte-identical when a set is rebuilt.
                    "mean": None if mean is None else float(f"{mean:.12g}"),
                    "quantiles": dict(
                        zip((f"{q:g}" for q in QUANTILES), quantiles or [None] * 7, strict=True)
                    ),
                }
            )
    return stats


def reference_statistics(
    con: duckdb.DuckDBPyConnection,
    split_files: Mapping[str, Path],
    features: Sequence[FeatureColumn],
) -> dict[str, Any]:
    """The manifest's `statistics` section: bins planned on `train`, counted on every split."""
    tables = {
        split: f"read_parquet({quote_literal(str(path))})" for split, path in split_files.items()
    }
    plans = plan_bins(con, tables["train"], features)
    per_split = {split: split_statistics(con, sql, plans) for split, sql in tables.items()}
    return {
        "format": STATS_FORMAT,
        "reference_split": "train",
        "features": {
            plan.ref: {
                **plan.to_json(),
                "dtype": next(f.dtype for f in features if f.ref == plan.ref),
                "splits": {split: stats[plan.ref] for split, stats in per_split.items()},
            }
            for plan in plans
        },
    }


def bin_plans(statistics: Mapping[str, Any]) -> list[BinPlan]:
    """The bin plans stored in a manifest's `statistics` section."""
    return [BinPlan.from_json(ref, raw) for ref, raw in statistics["features"].items()]
