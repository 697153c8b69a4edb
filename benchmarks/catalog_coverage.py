"""Coverage of a 10M-row Parquet source: cold (DuckDB scans) and cached (fingerprint hit).

Run: `python benchmarks/catalog_coverage.py [--rows 10000000] [--entities 100000]`.
The source has one int64 key, event and created timestamps and 8 float features with ~5%
nulls, written with DuckDB to a temporary folder that is removed afterwards.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import duckdb

from featurestore.catalog.coverage import CoverageSpec
from featurestore.catalog.coverage_cache import CoverageCache
from featurestore.sql import quote_literal

FEATURES = 8


def write_source(path: Path, rows: int, entities: int) -> None:
    """`rows` rows over `entities` keys, one hour apart per key, created 10 minutes later."""
    features = ", ".join(
        f"CASE WHEN random() < 0.05 THEN NULL ELSE random() * {k + 1} END AS f{k}"
        for k in range(FEATURES)
    )
    con = duckdb.connect()
    con.execute("SELECT setseed(0.42)")
    con.execute(
        f"""
        COPY (
            SELECT (i % {entities})::BIGINT AS entity_id,
                   TIMESTAMPTZ '2024-01-01 00:00:00+00'
                       + to_microseconds((i // {entities}) * 3600000000) AS event_timestamp,
                   TIMESTAMPTZ '2024-01-01 00:10:00+00'
                       + to_microseconds((i // {entities}) * 3600000000) AS created_timestamp,
                   {features}
            FROM range({rows}) AS t(i)
        ) TO {quote_literal(str(path))} (FORMAT parquet)
        """
    )
    con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--entities", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "source.parquet"
        began = time.perf_counter()
        write_source(path, args.rows, args.entities)
        print(f"wrote {args.rows:,} rows in {time.perf_counter() - began:.1f} s")
        spec = CoverageSpec(
            view="benchmark",
            source_path=str(path),
            join_keys=("entity_id",),
            timestamp_field="event_timestamp",
            created_timestamp_field="created_timestamp",
            features=tuple((f"f{k}", "Float64") for k in range(FEATURES)),
        )
        cache = CoverageCache(Path(folder) / "cache")
        began = time.perf_counter()
        stats, cached = cache.view_stats(spec)
        cold = time.perf_counter() - began
        began = time.perf_counter()
        _, cached_again = cache.view_stats(spec)
        warm = time.perf_counter() - began
    assert not cached and cached_again
    print(
        f"rows {stats.rows:,}  entities {stats.entities:,}  features {len(stats.features)}  "
        f"null rate f0 {stats.features[0].null_rate:.3f}"
    )
    print(f"cold {cold:.2f} s (target < 5 s)  cached {warm * 1000:.2f} ms")


if __name__ == "__main__":
    main()
