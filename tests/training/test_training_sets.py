"""Training sets on the flights repo: duplicates, groups, rights, leakage, reproducibility."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from feast import FeatureStore

from featurestore.apply import apply_repo
from featurestore.examples.flights import ingest_flights
from featurestore.offline.pit import PointInTimeResult
from featurestore.policy import PurposeNotAllowedError
from featurestore.repo import open_store
from featurestore.settings import load_settings
from featurestore.training import SplitSpec, TrainingSetRequest, build_training_set
from featurestore.training.builder import LeakageError, _check_no_leakage

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2] / "feature_repo"
SPLITS = ("train", "validation", "test")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> FeatureStore:
    """The flights repo, except that plane data may not be used for training."""
    root = tmp_path_factory.mktemp("training")
    repo = root / "repo"
    shutil.copytree(REPO, repo, ignore=shutil.ignore_patterns("__pycache__"))
    sources = repo / "flights_sources.py"
    text = sources.read_text()
    head, tail = text.split('name="planes_source"', 1)
    tail = tail.replace(
        "tags=NYCFLIGHTS13,",
        'tags=rights(license="LicenseRef-faa", pii="none", purposes="serving,analytics"),',
        1,
    )
    sources.write_text(head + 'name="planes_source"' + tail)
    settings = load_settings(data_dir=root / "data", repo_path=repo, redis_url=redis_url)
    ingest_flights(settings.data_dir)
    apply_repo(settings, redis_url)
    return open_store(settings, redis_url)


def flights_spine(store: FeatureStore, extra_where: str = "") -> str:
    flights = Path(store.config.repo_path).parent / "data" / "sources" / "flights.parquet"
    return (
        "SELECT flight_id, origin, carrier, tailnum, scheduled_departure AS event_timestamp, "
        f"arrived_delayed_15 FROM read_parquet('{flights}') "
        f"WHERE arrived_delayed_15 IS NOT NULL AND month = 3 {extra_where}"
    )


def count(query: str) -> int:
    row = duckdb.connect().execute(f"SELECT count(*) FROM ({query})").fetchone()
    assert row is not None
    return int(row[0])


def request(store: FeatureStore, **changes: object) -> TrainingSetRequest:
    values: dict[str, object] = {
        "name": "march",
        "features": ["weather_hourly:temp", "carrier_daily_stats:on_time_rate"],
        "spine": flights_spine(store),
        "label": "arrived_delayed_15",
        "split": SplitSpec(fractions=(0.6, 0.2, 0.2)),
    }
    values.update(changes)
    return TrainingSetRequest(**values)  # type: ignore[arg-type]


def read_splits(directory: Path) -> dict[str, pa.Table]:
    return {name: pq.read_table(directory / f"{name}.parquet") for name in SPLITS}


def test_splits_are_ordered_in_time_and_cover_the_spine(
    store: FeatureStore, tmp_path: Path
) -> None:
    result = build_training_set(store, request(store), tmp_path)

    splits = read_splits(result.directory)
    assert {name: t.num_rows for name, t in splits.items()} == result.rows
    assert sum(result.rows.values()) == count(flights_spine(store)) > 20_000
    ends = [
        (t["event_timestamp"][0].as_py(), t["event_timestamp"][-1].as_py()) for t in splits.values()
    ]
    assert ends[0][1] < ends[1][0] and ends[1][1] < ends[2][0]
    assert result.features == ["temp", "on_time_rate"]


def test_exact_duplicate_spine_rows_are_reported_and_dropped(
    store: FeatureStore, tmp_path: Path
) -> None:
    doubled = f"{flights_spine(store)} UNION ALL {flights_spine(store, 'AND day = 1')}"

    result = build_training_set(store, request(store, spine=doubled), tmp_path)

    first_of_march = count(flights_spine(store, "AND day = 1"))
    assert result.duplicates_dropped == first_of_march > 0
    assert sum(result.rows.values()) == count(flights_spine(store))
    manifest = json.loads(result.manifest_path.read_text())
    assert manifest["spine"]["duplicates_dropped"] == first_of_march


def test_group_key_keeps_each_group_in_one_split(store: FeatureStore, tmp_path: Path) -> None:
    result = build_training_set(store, request(store, group_key="carrier"), tmp_path)

    carriers = {
        name: set(t["carrier"].to_pylist()) for name, t in read_splits(result.directory).items()
    }
    assert carriers["train"].isdisjoint(carriers["validation"])
    assert carriers["train"].isdisjoint(carriers["test"])
    assert carriers["validation"].isdisjoint(carriers["test"])
    assert result.purged_rows == 0
    assert sum(result.rows.values()) == count(flights_spine(store))
    assert sum(result.fractions.values()) == pytest.approx(1.0)


def test_feature_whose_source_forbids_training_is_refused(
    store: FeatureStore, tmp_path: Path
) -> None:
    features = ["weather_hourly:temp", "plane_attributes:seats"]

    with pytest.raises(PurposeNotAllowedError) as refused:
        build_training_set(store, request(store, features=features), tmp_path)

    assert str(refused.value).startswith(
        "Purpose `training` is not allowed for `plane_attributes:seats`: feature "
        "`plane_attributes:seats`: purpose `training` is not allowed by data source "
        "`planes_source` (allows: analytics, serving)."
    )
    assert not (tmp_path / "march").exists()


def test_same_inputs_rebuild_byte_identical_files(store: FeatureStore, tmp_path: Path) -> None:
    first = build_training_set(store, request(store), tmp_path / "one")
    second = build_training_set(store, request(store), tmp_path / "two")

    for name in [*SPLITS, "manifest"]:
        suffix = ".json" if name == "manifest" else ".parquet"
        assert (first.directory / f"{name}{suffix}").read_bytes() == (
            second.directory / f"{name}{suffix}"
        ).read_bytes()


def test_manifest_records_what_rebuilds_the_set(store: FeatureStore, tmp_path: Path) -> None:
    result = build_training_set(store, request(store), tmp_path)

    manifest = json.loads(result.manifest_path.read_text())
    assert manifest["features"] == ["weather_hourly:temp", "carrier_daily_stats:on_time_rate"]
    assert set(manifest["views"]) == {"weather_hourly", "carrier_daily_stats"}
    assert all(len(v["definition_sha256"]) == 64 for v in manifest["views"].values())
    assert all(v["source_files"][0]["sha256"] for v in manifest["views"].values())
    assert manifest["split"]["rows"] == result.rows
    assert manifest["rights"]["weather_hourly"]["terms"]["license"] == "CC0-1.0"
    assert set(manifest["engine"]["versions"]) == {
        "python",
        "featurestore",
        "feast",
        "duckdb",
        "pyarrow",
    }
    assert manifest["hidden_by_knowledge_time"]["weather_hourly"] > 0
    temp = manifest["statistics"]["features"]["weather_hourly:temp"]
    assert (temp["method"], len(temp["edges"])) == ("declared_range", 9)
    assert {
        split: sum(stats["counts"]) + stats["nulls"] for split, stats in temp["splits"].items()
    } == result.rows
    assert manifest["rebuild"].startswith("featurestore training-set march --features")


def test_leakage_check_refuses_a_feature_from_the_future() -> None:
    times = pa.chunked_array([pa.array([1_000, 2_000], pa.timestamp("us", tz="UTC"))])
    later = pa.chunked_array([pa.array([500, 2_500], pa.timestamp("us", tz="UTC"))])
    joined = PointInTimeResult(table=pa.table({"x": [1, 2]}), feature_times={"v": (later, later)})

    with pytest.raises(LeakageError, match="1 row\\(s\\) of view `v`"):
        _check_no_leakage(joined, times, as_known_at=True)


@pytest.mark.e2e
def test_manifest_rebuild_command_works_from_another_directory(
    store: FeatureStore, tmp_path: Path, redis_url: str
) -> None:
    data_dir = Path(store.config.repo_path).parent / "data"
    result = build_training_set(
        store, request(store, name="rebuilt"), data_dir / "training", data_dir=data_dir
    )
    before = {name: path.read_bytes() for name, path in result.paths.items()}
    command = json.loads(result.manifest_path.read_text())["rebuild"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    rebuilt = subprocess.run(
        [sys.executable, "-m", "featurestore", *shlex.split(command)[1:]],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "FEATURESTORE_REDIS_URL": redis_url, "COLUMNS": "200"},
    )

    assert rebuilt.returncode == 0, rebuilt.stderr
    assert f"--repo {Path(store.config.repo_path).resolve()}" in command
    assert f"--data-dir {data_dir.resolve()}" in command
    assert {name: path.read_bytes() for name, path in result.paths.items()} == before
    assert not (elsewhere / "data").exists()
