"""Skew of 1M served rows × 15 features against a 1M-row training set: DuckDB (one scan of the
log for histograms, nulls and out-of-range shares; one grouped window query for all KS
statistics) against numpy/scipy on the same data (pandas reads, `np.histogram`-style binning,
`scipy.stats.ks_2samp`).

Run: `python benchmarks/quality_skew.py [--rows 1000000] [--features 15]`.
Data: seeded (numpy `default_rng(13)`) normal features rounded to 0.01 (as sensors report), 2%
nulls; the served side is shifted by 0.1 standard deviation on odd features.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from scipy.stats import ks_2samp

from featurestore.metadata import FieldSemantics
from featurestore.quality.metrics import PSI_EPSILON
from featurestore.quality.skew import compute_skew
from featurestore.quality.stats import FeatureColumn, bin_plans, reference_statistics


def make_data(folder: Path, rows: int, features: int) -> tuple[Path, Path]:
    rng = np.random.default_rng(13)
    train: dict[str, object] = {}
    served: dict[str, object] = {
        "request_time": pa.array(
            [datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=i) for i in range(rows)]
        ),
        "feature_service": pa.array(["svc"] * rows),
        "entity_key": pa.array(["{}"] * rows),
    }
    for k in range(features):
        for side, shift in (("train", 0.0), ("served", 0.1 * (k % 2))):
            values = np.round(rng.normal(shift, 1.0, rows), 2)
            mask = rng.random(rows) < 0.02
            column = pa.array(values, mask=mask)
            if side == "train":
                train[f"f{k}"] = column
            else:
                served[f"f{k}"] = column
                served[f"f{k}__status"] = pa.array(np.where(mask, "NOT_FOUND", "PRESENT"))
    train_path, served_path = folder / "train.parquet", folder / "served.parquet"
    pq.write_table(pa.table(train), train_path)
    pq.write_table(pa.table(served), served_path)
    return train_path, served_path


def baseline(
    train_path: Path, served_path: Path, statistics: dict[str, object]
) -> dict[str, float]:
    """PSI, JS and KS per feature with pandas, numpy and scipy."""
    train, served = pd.read_parquet(train_path), pd.read_parquet(served_path)
    out = {}
    for plan in bin_plans(statistics):
        a = train[plan.column].dropna().to_numpy()
        b = served[plan.column].where(served[f"{plan.column}__status"] == "PRESENT").dropna()
        b = b.to_numpy()
        edges = np.asarray(plan.edges)
        p = np.bincount(np.searchsorted(edges, a, side="right"), minlength=plan.bins) / len(a)
        q = np.bincount(np.searchsorted(edges, b, side="right"), minlength=plan.bins) / len(b)
        pe, qe = np.maximum(p, PSI_EPSILON), np.maximum(q, PSI_EPSILON)
        out[f"{plan.ref}:psi"] = float(np.sum((qe - pe) * np.log(qe / pe)))
        out[f"{plan.ref}:ks"] = float(ks_2samp(a, b).statistic)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        train_path, served_path = make_data(Path(folder), args.rows, args.features)
        columns = [
            FeatureColumn(f"v:f{k}", f"f{k}", "Float64", FieldSemantics(min=-4, max=4))
            for k in range(args.features)
        ]
        with duckdb.connect() as con:
            statistics = reference_statistics(con, {"train": train_path}, columns)
        manifest = {
            "name": "benchmark",
            "feature_service": "svc",
            "split": {"files": {"train": {"file": train_path.name}}},
            "statistics": statistics,
        }
        began = time.perf_counter()
        with duckdb.connect() as con:
            served = con.sql(f"SELECT * FROM read_parquet('{served_path}')")
            report = compute_skew(con, manifest, Path(folder), served)
        ours = time.perf_counter() - began
        began = time.perf_counter()
        expected = baseline(train_path, served_path, statistics)
        theirs = time.perf_counter() - began
    got = {f"{f.feature}:{f.metric}": f.value for f in report.features}
    for key, value in expected.items():
        assert abs((got[key] or 0.0) - value) < 1e-9, (key, got[key], value)
    breached = sorted({f.feature for f in report.breached})
    print(f"served {report.served_rows:,} × {args.features} features; breached: {breached}")
    print(
        f"duckdb {ours:.2f} s (target < 5 s)  numpy/scipy {theirs:.2f} s  "
        f"ratio {theirs / ours:.1f}x"
    )


if __name__ == "__main__":
    main()
