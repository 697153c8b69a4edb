"""Validation of a 10M-row Parquet source against declared semantics: DuckDB (one scan for the
row rules, one hash aggregate for duplicates) against the same rules in pandas.

Run: `python benchmarks/quality_validate.py [--rows 10000000] [--entities 100000]`.
The source is the coverage benchmark's seeded generator: one int64 key, event and created
timestamps and 8 float features with ~5% nulls.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import duckdb
from catalog_coverage import FEATURES, write_source

from featurestore.metadata import FieldSemantics
from featurestore.offline.source import SourceLocation
from featurestore.quality.validate import FeatureRules, ValidationSpec, validate_view

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def spec(path: Path) -> ValidationSpec:
    """f0 must not be null; each f_k lies in [0, k] (so about 1/(k+1) of it is above max)."""
    return ValidationSpec(
        view="benchmark",
        location=SourceLocation.parquet(path),
        join_keys=("entity_id",),
        timestamp_field="event_timestamp",
        created_timestamp_field="created_timestamp",
        features=tuple(
            FeatureRules(f"f{k}", "Float64", FieldSemantics(min=0, max=k, nullable=k != 0))
            for k in range(FEATURES)
        ),
    )


def pandas_counts(path: Path) -> dict[tuple[str, str | None], int]:
    """The same rules with pandas: read the file, then vectorized masks per rule."""
    frame = pd.read_parquet(path)
    counts: dict[tuple[str, str | None], int] = {("rows", None): len(frame)}
    for k in range(FEATURES):
        column = frame[f"f{k}"].to_numpy(dtype=float, na_value=np.nan)
        null = frame[f"f{k}"].isna().to_numpy()
        finite = np.isfinite(column)
        if k == 0:
            counts[("nulls", "f0")] = int(null.sum())
        counts[("nan_inf", f"f{k}")] = int((~finite & ~null).sum())
        counts[("below_min", f"f{k}")] = int((finite & (column < 0)).sum())
        counts[("above_max", f"f{k}")] = int((finite & (column > k)).sum())
    event, created = frame["event_timestamp"], frame["created_timestamp"]
    counts[("future_event", None)] = int((event > pd.Timestamp(NOW)).sum())
    counts[("created_before_event", None)] = int((created < event).sum())
    keys = ["entity_id", "event_timestamp", "created_timestamp"]
    counts[("duplicates", None)] = int(frame.duplicated(keys).sum())
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--entities", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "source.parquet"
        write_source(path, args.rows, args.entities)
        began = time.perf_counter()
        with duckdb.connect() as con:
            validation = validate_view(con, spec(path), now=NOW)
        ours = time.perf_counter() - began
        began = time.perf_counter()
        baseline = pandas_counts(path)
        theirs = time.perf_counter() - began
    counted = {(r.rule, r.feature): r.count for r in validation.results}
    assert all(counted[key] == value for key, value in baseline.items()), (counted, baseline)
    print(
        f"rows {validation.rows:,}  rules {len(validation.results)}  {validation.summary()[:80]}…"
    )
    print(f"duckdb {ours:.2f} s (target < 5 s)  pandas {theirs:.2f} s  ratio {theirs / ours:.1f}x")


if __name__ == "__main__":
    main()
