"""Drift per window of a hand-made source: windows like the reference show none, a shifted one
shows PSI and JS as computed independently with numpy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from featurestore.errors import InvalidInputError
from featurestore.metadata import FieldSemantics
from featurestore.offline.arrow_io import write_parquet
from featurestore.offline.source import SourceLocation
from featurestore.quality.drift import compute_drift, parse_window
from featurestore.quality.metrics import PSI_EPSILON
from featurestore.quality.stats import FeatureColumn, reference_statistics
from featurestore.quality.validate import FeatureRules, ValidationSpec

pytestmark = pytest.mark.integration

DAY0 = datetime(2024, 3, 1, tzinfo=UTC)


def _source(path: Path) -> ValidationSpec:
    """Three days of hourly rows; x in [0, 10) on days 0 and 1, in [5, 15) on day 2."""
    times, values = [], []
    for day in range(3):
        for hour in range(24):
            times.append(DAY0 + timedelta(days=day, hours=hour))
            values.append(float(hour % 10 + (5 if day == 2 else 0)))
    table = pa.table(
        {
            "key": pa.array(["k"] * len(times)),
            "event_timestamp": pa.array(times, pa.timestamp("us", tz="UTC")),
            "x": pa.array(values),
        }
    )
    write_parquet(table, path)
    return ValidationSpec(
        view="v",
        location=SourceLocation.parquet(path),
        join_keys=("key",),
        timestamp_field="event_timestamp",
        created_timestamp_field=None,
        features=(FeatureRules("x", "Float64", FieldSemantics(min=0, max=20)),),
    )


def _psi_js(p_counts: list[int], q_counts: list[int]) -> tuple[float, float]:
    p, q = np.asarray(p_counts) / sum(p_counts), np.asarray(q_counts) / sum(q_counts)
    pe, qe = np.maximum(p, PSI_EPSILON), np.maximum(q, PSI_EPSILON)
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        js = 0.5 * np.nansum(np.where(p > 0, p * np.log2(p / m), 0)) + 0.5 * np.nansum(
            np.where(q > 0, q * np.log2(q / m), 0)
        )
    return float(np.sum((qe - pe) * np.log(qe / pe))), float(np.sqrt(js))


def test_windows_against_the_first_window(tmp_path: Path) -> None:
    spec = _source(tmp_path / "x.parquet")
    with duckdb.connect() as con:
        report = compute_drift(con, spec, timedelta(days=1))

    # Declared range [0, 20] in 10 bins of 2: day 0 and 1 fill bins 0-4, day 2 bins 2-7.
    day0 = [6, 6, 4, 4, 4, 0, 0, 0, 0, 0]
    day2 = [0, 0, 3, 6, 5, 4, 4, 2, 0, 0]
    psi, js = _psi_js(day0, day2)
    assert [(w.start, w.rows) for w in report.windows] == [
        (DAY0 + timedelta(days=d), 24) for d in range(3)
    ]
    assert report.series("v:x")[:2] == [0.0, 0.0]
    assert report.series("v:x")[2] == pytest.approx(psi)
    assert report.series("v:x", "js")[2] == pytest.approx(js)
    assert report.reference == "first window (2024-03-01 00:00)"


def test_windows_against_a_training_set_reference(tmp_path: Path) -> None:
    spec = _source(tmp_path / "x.parquet")
    train = tmp_path / "train.parquet"
    write_parquet(pa.table({"x": pa.array([float(v % 10 + 5) for v in range(24)])}), train)
    with duckdb.connect() as con:
        statistics = reference_statistics(
            con,
            {"train": train},
            [FeatureColumn("v:x", "x", "Float64", FieldSemantics(min=0, max=20))],
        )
        report = compute_drift(
            con, spec, timedelta(days=1), {"name": "set", "statistics": statistics}
        )

    assert report.series("v:x")[2] == 0.0
    assert report.series("v:x")[0] > 0.2
    assert report.to_json()["windows"][2]["features"] == [{"feature": "v:x", "psi": 0.0, "js": 0.0}]


def test_window_syntax() -> None:
    assert parse_window("6h") == timedelta(hours=6)
    assert parse_window("1w") == timedelta(weeks=1)
    with pytest.raises(InvalidInputError, match="`1y`"):
        parse_window("1y")
