"""Coverage of Parquet sources with DuckDB, and its cache keyed by the files' fingerprint."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featurestore.catalog.coverage import Bin, CoverageSpec, ValueCount
from featurestore.catalog.coverage_cache import CoverageCache
from featurestore.errors import SourceDataError

pytestmark = pytest.mark.integration

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def write_source(path: Path) -> None:
    """Entities a (3 rows), b (2 rows), c (1 row); `score` null for all of c and one of a."""
    table = pa.table(
        {
            "store_id": pa.array([1, 1, 1, 2, 2, 3], pa.int64()),
            "event_timestamp": pa.array(
                [T0.replace(hour=h) for h in (0, 1, 2, 0, 5, 3)], pa.timestamp("us", "UTC")
            ),
            "created_timestamp": pa.array(
                [T0.replace(hour=h, minute=10) for h in (0, 1, 2, 0, 5, 3)],
                pa.timestamp("us", "UTC"),
            ),
            "score": pa.array([1.0, None, 3.0, 5.0, 9.0, None], pa.float64()),
            "visits": pa.array([0, 1, 2, 2, 3, 4], pa.int64()),
            "segment": pa.array(["x", "y", "x", None, "x", "z"], pa.string()),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def spec(path: Path) -> CoverageSpec:
    return CoverageSpec(
        view="stores",
        source_path=str(path),
        join_keys=("store_id",),
        timestamp_field="event_timestamp",
        created_timestamp_field="created_timestamp",
        features=(("score", "Float64"), ("visits", "Int64"), ("segment", "String")),
    )


def test_counts_nulls_entities_ranges_and_histograms(tmp_path: Path) -> None:
    write_source(tmp_path / "stores.parquet")

    stats, cached = CoverageCache().view_stats(spec(tmp_path / "stores.parquet"))

    assert not cached
    assert (stats.rows, stats.entities) == (6, 3)
    assert (stats.first_event, stats.last_event) == (T0, T0.replace(hour=5))
    assert stats.last_created == T0.replace(hour=5, minute=10)
    score, visits, segment = stats.features
    assert (score.non_null, score.null_rate, score.entity_coverage) == (4, 0.333333, 0.666667)
    assert (score.min, score.max, score.mean) == (1.0, 9.0, 4.5)
    assert len(score.histogram) == 20 and sum(b.count for b in score.histogram) == 4
    assert score.histogram[0] == Bin(1.0, 1.4, 1)
    assert score.histogram[-1].count == 1  # the maximum lands in the last bin
    assert visits.histogram == (
        Bin(0, 1, 1),
        Bin(1, 2, 1),
        Bin(2, 3, 2),
        Bin(3, 4, 1),
        Bin(4, 5, 1),
    )
    assert (segment.null_rate, segment.entity_coverage) == (0.166667, 1.0)
    assert segment.top_values == (ValueCount("x", 3), ValueCount("y", 1), ValueCount("z", 1))


def test_cache_answers_until_a_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "stores.parquet"
    write_source(path)
    cache = CoverageCache(tmp_path / "cache")

    first, first_cached = cache.view_stats(spec(path))
    again, again_cached = cache.view_stats(spec(path))
    from_disk, disk_cached = CoverageCache(tmp_path / "cache").view_stats(spec(path))
    os.utime(path, ns=(1, 1))
    changed, changed_cached = cache.view_stats(spec(path))

    assert (first_cached, again_cached, disk_cached, changed_cached) == (False, True, True, False)
    assert again == first == from_disk
    assert changed.fingerprint != first.fingerprint
    assert changed.features == first.features


def test_reads_a_folder_of_parquet_files(tmp_path: Path) -> None:
    write_source(tmp_path / "log" / "date=2024-01-01" / "part-0.parquet")
    write_source(tmp_path / "log" / "date=2024-01-02" / "part-0.parquet")

    stats, _ = CoverageCache().view_stats(spec(tmp_path / "log"))

    assert (stats.rows, stats.entities) == (12, 3)


def test_nan_and_infinity_do_not_spoil_ranges_or_histograms(tmp_path: Path) -> None:
    path = tmp_path / "odd.parquet"
    pq.write_table(
        pa.table(
            {
                "store_id": [1, 2, 3, 4],
                "event_timestamp": pa.array([T0] * 4, pa.timestamp("us", "UTC")),
                "score": [1.0, float("nan"), float("inf"), 3.0],
            }
        ),
        path,
    )
    odd = CoverageSpec(
        "odd", str(path), ("store_id",), "event_timestamp", None, (("score", "Float64"),)
    )

    stats, _ = CoverageCache().view_stats(odd)

    (score,) = stats.features
    assert (score.min, score.max, score.mean, score.non_null) == (1.0, 3.0, 1.0, 4)
    assert sum(b.count for b in score.histogram) == 2
    assert stats.last_created is None


def test_an_empty_source_has_no_entities(tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    write_source(path)
    pq.write_table(pq.read_table(path).slice(0, 0), path)
    no_keys = CoverageSpec("empty", str(path), (), "event_timestamp", None, (("score", "Float64"),))

    stats, _ = CoverageCache().view_stats(no_keys)

    assert (stats.rows, stats.entities, stats.first_event) == (0, 0, None)
    assert stats.features[0].null_rate == 1.0 and stats.features[0].histogram == ()


def test_missing_data_names_the_view_and_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(SourceDataError) as raised:
        CoverageCache().view_stats(spec(tmp_path / "absent.parquet"))

    assert str(raised.value) == (
        f"No Parquet data at `{tmp_path / 'absent.parquet'}` for feature view `stores`; "
        "run `featurestore ingest` or materialize the source first."
    )
