"""Training-vs-serving distribution skew: the served vectors of a training set's feature service
against the set's reference statistics, per feature and metric. The reference is the whole set
(every split, binned as planned on the train split): what the model was trained and evaluated on.

Only PRESENT served values count as values: a NOT_FOUND or EXPIRED value is a null, as the
point-in-time join of a training set would give (an EXPIRED value is older than the ttl).
Numeric features get PSI, JS distance and KS; categorical ones PSI, JS distance and L∞; every
feature its null-rate difference (served − reference) and, when a range or allowed values are
declared, the share of served values outside them. Thresholds: `quality.thresholds`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
from feast import FeatureStore

from featurestore.errors import ConflictError, ObjectNotFoundError
from featurestore.quality.metrics import binned_distances, ks_statistics
from featurestore.quality.report import Distribution, SkewFigure, SkewReport
from featurestore.quality.serving import serving_log_dir, serving_log_relation
from featurestore.quality.stats import BinPlan, bin_plans
from featurestore.quality.thresholds import Metric, thresholds_for
from featurestore.sql import quote_ident, quote_literal

MANIFEST_NAME = "manifest.json"


def read_manifest(training_dir: Path, name: str) -> dict[str, Any]:
    """The manifest of training set `name` under `training_dir`; its statistics must exist."""
    path = training_dir / name / MANIFEST_NAME
    if not path.is_file():
        known = sorted(p.parent.name for p in training_dir.glob(f"*/{MANIFEST_NAME}"))
        raise ObjectNotFoundError(
            "training set", name, f"the sets are {', '.join(known) or 'none yet'}"
        )
    manifest: dict[str, Any] = json.loads(path.read_text())
    if "statistics" not in manifest:
        raise ConflictError(
            f"Training set `{name}` has no reference statistics (it was built by an older "
            f"version); rebuild it with the command in its manifest's `rebuild`."
        )
    return manifest


def training_set_skew(
    store: FeatureStore,
    data_dir: Path,
    name: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> SkewReport:
    """Skew of training set `name` (under `data_dir/training`) against the serving log of its
    feature service in `data_dir`, between `since` and `until`."""
    manifest = read_manifest(data_dir / "training", name)
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        served = serving_log_relation(
            con,
            serving_log_dir(data_dir),
            feature_service=manifest.get("feature_service"),
            since=since,
            until=until,
        )
        return compute_skew(
            con, manifest, data_dir / "training" / name, served, feature_tags(store, manifest)
        )


def feature_tags(store: FeatureStore, manifest: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """The field tags of each feature of a manifest, as registered now (missing: none)."""
    tags: dict[str, dict[str, str]] = {}
    for ref in manifest["statistics"]["features"]:
        view_name, _, name = ref.partition(":")
        try:
            view = store.registry.get_any_feature_view(view_name, store.project)
        except Exception:  # a view removed since the build keeps the default thresholds
            continue
        for field in view.features:
            if field.name == name:
                tags[ref] = dict(field.tags)
    return tags


def whole_set(splits: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Count, nulls, null rate and bin counts of all splits together: the reference skew
    compares with (the data the model was trained and evaluated on)."""
    count = sum(int(stats["count"]) for stats in splits.values())
    nulls = sum(int(stats["nulls"]) for stats in splits.values())
    counts = [sum(column) for column in zip(*(s["counts"] for s in splits.values()), strict=True)]
    return {
        "count": count,
        "nulls": nulls,
        "null_rate": nulls / count if count else None,
        "counts": counts,
    }


def served_columns_sql(plans: list[BinPlan], log_columns: list[str]) -> str:
    """SELECT list masking non-PRESENT served values to null, one column per plan's column."""
    selects = []
    for plan in plans:
        name = plan.column if plan.column in log_columns else plan.ref.partition(":")[2]
        if name not in log_columns:
            selects.append(f"NULL AS {quote_ident(plan.column)}")
            continue
        status = f"{name}__status"
        value = quote_ident(name)
        if status in log_columns:
            value = f"CASE WHEN {quote_ident(status)} = 'PRESENT' THEN {value} END"
        selects.append(f"{value} AS {quote_ident(plan.column)}")
    return ", ".join(selects) or "NULL AS __none"


def compute_skew(
    con: duckdb.DuckDBPyConnection,
    manifest: Mapping[str, Any],
    training_set_dir: Path,
    served: duckdb.DuckDBPyRelation | None,
    tags_of: Mapping[str, Mapping[str, str]] | None = None,
) -> SkewReport:
    """The skew report of a training set (its manifest and folder) against `served` (serving
    log rows, e.g. from `serving_log_relation`); `tags_of[ref]` holds each feature's tags."""
    statistics = manifest["statistics"]
    plans = bin_plans(statistics)
    files = [training_set_dir / entry["file"] for entry in manifest["split"]["files"].values()]
    served_view = "__featurestore_served"
    if served is None:
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW {served_view} AS SELECT "
            f"{', '.join(f'NULL AS {quote_ident(p.column)}' for p in plans) or '1 AS one'} "
            "WHERE false"
        )
    else:
        served.create_view("__featurestore_served_raw", replace=True)
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW {served_view} AS SELECT "
            f"{served_columns_sql(plans, list(served.columns))} FROM __featurestore_served_raw"
        )
    # Each served value is cleaned once (`value_sql`), then binned and checked from that column.
    cleaned = ", ".join(
        f"{plan.value_sql(quote_ident(plan.column))} AS c{i}" for i, plan in enumerate(plans)
    )
    selects = ["count(*)"]
    for index, plan in enumerate(plans):
        outside = plan.out_of_range_sql(f"c{index}", cleaned=True)
        selects += [
            f"count(*) - count(c{index})",
            f"histogram({plan.bucket_of_value_sql(f'c{index}')})",
            f"count(*) FILTER (WHERE {outside})" if outside else "NULL",
        ]
    row = con.execute(
        f"SELECT {', '.join(selects)} FROM (SELECT {cleaned or '1 AS one'} FROM {served_view})"
    ).fetchall()[0]
    served_rows = int(row[0])
    binned = {}
    nulls, outside_counts = {}, {}
    for index, plan in enumerate(plans):
        null_count, histogram, outside = row[1 + 3 * index : 4 + 3 * index]
        nulls[plan.ref] = int(null_count)
        outside_counts[plan.ref] = outside
        reference = whole_set(statistics["features"][plan.ref]["splits"])
        binned[plan.ref] = (
            reference["counts"],
            [int((histogram or {}).get(b, 0)) for b in range(plan.bins)],
        )
    distances = binned_distances(con, binned)
    listed = ", ".join(quote_literal(str(path)) for path in files)
    ks = ks_statistics(
        con,
        f"read_parquet([{listed}])",
        served_view,
        {
            plan.ref: (plan.value_sql(quote_ident(plan.column)),) * 2
            for plan in plans
            if plan.kind == "numeric"
        },
    )
    figures: list[SkewFigure] = []
    for plan in plans:
        thresholds = thresholds_for((tags_of or {}).get(plan.ref, {}), owner=plan.ref)
        reference_stats = whole_set(statistics["features"][plan.ref]["splits"])
        values: dict[Metric, float | None] = {"psi": distances[plan.ref].psi}
        if plan.kind == "numeric":
            values["ks"] = ks.get(plan.ref)
        values["js"] = distances[plan.ref].js
        if plan.kind == "categorical":
            values["linf"] = distances[plan.ref].linf
        reference_null = reference_stats.get("null_rate")
        values["null_rate_diff"] = (
            nulls[plan.ref] / served_rows - reference_null
            if served_rows and reference_null is not None
            else None
        )
        with_value = served_rows - nulls[plan.ref]
        if outside_counts[plan.ref] is not None:
            values["out_of_range"] = (
                int(outside_counts[plan.ref]) / with_value if with_value else None
            )
        figures.extend(
            SkewFigure(plan.ref, metric, value, thresholds[metric])
            for metric, value in values.items()
        )
    con.execute(f"DROP VIEW IF EXISTS {served_view}")
    con.execute("DROP VIEW IF EXISTS __featurestore_served_raw")
    return SkewReport(
        training_set=str(manifest["name"]),
        feature_service=manifest.get("feature_service"),
        served_rows=served_rows,
        features=tuple(figures),
        distributions={
            plan.ref: Distribution(
                tuple(plan.labels()), tuple(binned[plan.ref][0]), tuple(binned[plan.ref][1])
            )
            for plan in plans
        },
    )
