"""Skew of a hand-made training set against hand-made served rows: reference statistics in the
manifest, only the shifted feature breaches, statuses other than PRESENT count as null, and
a tag on the feature overrides a threshold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from featurestore.metadata import FieldSemantics
from featurestore.offline.arrow_io import write_parquet
from featurestore.quality.skew import compute_skew
from featurestore.quality.stats import FeatureColumn, reference_statistics

pytestmark = pytest.mark.integration

FEATURES = [
    FeatureColumn("v:x", "x", "Float64", FieldSemantics(min=0, max=100)),
    FeatureColumn("v:n", "n", "Int64", FieldSemantics()),
    FeatureColumn("v:c", "c", "String", FieldSemantics(allowed=("a", "b", "c"))),
]


def _split(rows: int) -> pa.Table:
    return pa.table(
        {
            "x": pa.array([float(i % 50) for i in range(rows)]),
            "n": pa.array([i % 7 for i in range(rows)], pa.int64()),
            "c": pa.array([("a", "b", "c")[i % 3] for i in range(rows)]),
        }
    )


@pytest.fixture(scope="module")
def training_set(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("set")
    paths = {}
    for name, rows in (("train", 1400), ("validation", 350), ("test", 350)):
        paths[name] = folder / f"{name}.parquet"
        write_parquet(_split(rows), paths[name])
    with duckdb.connect() as con:
        statistics = reference_statistics(con, paths, FEATURES)
    manifest = {
        "name": "hand_made",
        "feature_service": "svc",
        "split": {"files": {name: {"file": path.name} for name, path in paths.items()}},
        "statistics": statistics,
    }
    return folder, manifest


def _served(rows: int = 600) -> pa.Table:
    """x shifted up by 60 (some beyond the declared max of 100); n as trained; c EXPIRED in
    every fifth row."""
    start = datetime(2024, 1, 1, tzinfo=UTC)
    c_status = ["EXPIRED" if i % 5 == 0 else "PRESENT" for i in range(rows)]
    return pa.table(
        {
            "request_time": pa.array([start + timedelta(minutes=i) for i in range(rows)]),
            "feature_service": pa.array(["svc"] * rows),
            "entity_key": pa.array(["{}"] * rows),
            "x": pa.array([float(i % 50 + 60) for i in range(rows)]),
            "x__status": pa.array(["PRESENT"] * rows),
            "n": pa.array([i % 7 for i in range(rows)], pa.int64()),
            "n__status": pa.array(["PRESENT"] * rows),
            "c": pa.array([("a", "b", "c")[i % 3] for i in range(rows)]),
            "c__status": pa.array(c_status),
        }
    )


def _report(
    training_set: tuple[Path, dict[str, Any]], tags: dict[str, dict[str, str]] | None = None
) -> dict[str, Any]:
    folder, manifest = training_set
    with duckdb.connect() as con:
        served = con.from_arrow(_served())
        return compute_skew(con, manifest, folder, served, tags).to_json()


def test_manifest_statistics_bin_declared_ranges_and_train_quantiles(
    training_set: tuple[Path, dict[str, Any]],
) -> None:
    features = training_set[1]["statistics"]["features"]

    assert features["v:x"]["method"] == "declared_range"
    assert features["v:x"]["edges"] == [10.0 * i for i in range(1, 10)]
    assert features["v:x"]["splits"]["train"]["counts"] == [280] * 5 + [0] * 5
    assert features["v:n"]["method"] == "quantile"
    assert features["v:c"]["categories"] == ["a", "b", "c"]
    assert features["v:c"]["splits"]["validation"]["counts"] == [117, 117, 116, 0]
    assert features["v:c"]["splits"]["test"]["null_rate"] == 0.0


def test_only_the_shifted_feature_and_the_expired_nulls_breach(
    training_set: tuple[Path, dict[str, Any]],
) -> None:
    report = _report(training_set)

    assert set(report) == {"training_set", "feature_service", "served_rows", "features"}
    assert (report["training_set"], report["feature_service"], report["served_rows"]) == (
        "hand_made",
        "svc",
        600,
    )
    assert all(
        set(figure) == {"feature", "metric", "value", "threshold", "breached"}
        for figure in report["features"]
    )
    breached = {(f["feature"], f["metric"]) for f in report["features"] if f["breached"]}
    assert breached == {
        ("v:x", "psi"),
        ("v:x", "ks"),
        ("v:x", "js"),
        ("v:x", "out_of_range"),
        ("v:c", "null_rate_diff"),
    }
    value = {(f["feature"], f["metric"]): f["value"] for f in report["features"]}
    assert value[("v:x", "out_of_range")] == pytest.approx(9 / 50)
    assert value[("v:x", "ks")] == 1.0
    assert value[("v:c", "null_rate_diff")] == pytest.approx(0.2)
    assert ("v:c", "linf") in value and ("v:c", "ks") not in value


def test_a_feature_tag_overrides_or_turns_off_a_threshold(
    training_set: tuple[Path, dict[str, Any]],
) -> None:
    report = _report(
        training_set,
        {"v:c": {"skew.null_rate_diff": "0.5"}, "v:x": {"skew.psi": "off", "skew.ks": "2"}},
    )

    figures = {(f["feature"], f["metric"]): f for f in report["features"]}
    breached = {key for key, figure in figures.items() if figure["breached"]}
    assert breached == {("v:x", "js"), ("v:x", "out_of_range")}
    assert figures[("v:x", "psi")]["threshold"] is None
    assert figures[("v:c", "null_rate_diff")]["threshold"] == 0.5


def test_without_served_rows_nothing_breaches(training_set: tuple[Path, dict[str, Any]]) -> None:
    folder, manifest = training_set
    with duckdb.connect() as con:
        report = compute_skew(con, manifest, folder, None).to_json()

    assert report["served_rows"] == 0
    assert not any(figure["breached"] for figure in report["features"])
