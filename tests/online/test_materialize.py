"""Materialization from Parquet into a real Redis, recorded in the Feast registry."""

from __future__ import annotations

from datetime import timedelta

import pyarrow as pa
import pytest
from online_repo import NOW, MiniRepo, driver_rows, driver_stats_view, timestamps

from featurestore.errors import ObjectNotFoundError
from featurestore.online.materialize import (
    MaterializationError,
    ViewMaterialized,
    materialize,
    materialize_incremental,
)
from featurestore.online.writer import OnlineWriter

pytestmark = pytest.mark.integration

HOUR = timedelta(hours=1)


def feast_read(repo: MiniRepo, ids: list[int]) -> dict[str, list[object]]:
    refs = ["driver_stats:conv_rate", "driver_stats:trips", "driver_stats:rank"]
    rows = [{"driver_id": i} for i in ids]
    return repo.store.get_online_features(features=refs, entity_rows=rows).to_dict()


def summary(done: list[ViewMaterialized]) -> list[tuple[str, int, int, int]]:
    return [(v.view, v.rows, v.written, v.skipped_older) for v in done]


@pytest.fixture
def history(repo: MiniRepo) -> MiniRepo:
    """Driver 1 has three versions, two tied on event time; driver 2 one; driver 3 only later."""
    rows = pa.table(
        {
            "driver_id": pa.array([1, 1, 1, 2, 3], pa.int64()),
            "conv_rate": [0.1, 0.2, 0.3, 0.5, 0.9],
            "trips": pa.array([10, 20, 30, 50, 90], pa.int64()),
            "rank": ["a", "b", "c", "d", "e"],
            "event_timestamp": timestamps(NOW - 2 * HOUR, NOW - HOUR, NOW - HOUR, NOW - HOUR, NOW),
            "created_timestamp": timestamps(
                NOW - 2 * HOUR, NOW, NOW - HOUR, NOW - HOUR, NOW + HOUR
            ),
        }
    )
    source = repo.source("stats", rows, created_timestamp_column="created_timestamp")
    repo.apply(driver_stats_view(source))
    return repo


def test_latest_row_per_key_is_written_ties_going_to_the_latest_created(history: MiniRepo) -> None:
    done = materialize(history.store, history.redis, NOW - 3 * HOUR, NOW - HOUR)

    assert summary(done) == [("driver_stats", 2, 2, 0)]
    assert feast_read(history, [1, 2, 3]) == {
        "driver_id": [1, 2, 3],
        "conv_rate": [0.2, 0.5, None],
        "trips": [20, 50, None],
        "rank": ["b", "d", None],
    }


def test_the_interval_is_recorded_in_the_registry_as_feast_does(history: MiniRepo) -> None:
    materialize(history.store, history.redis, NOW - 3 * HOUR, NOW - HOUR)

    view = history.store.get_feature_view("driver_stats")
    assert view.materialization_intervals == [(NOW - 3 * HOUR, NOW - HOUR)]
    assert view.most_recent_end_time == NOW - HOUR


def test_an_empty_interval_writes_nothing(history: MiniRepo) -> None:
    done = materialize(history.store, history.redis, NOW - 10 * HOUR, NOW - 5 * HOUR)

    assert summary(done) == [("driver_stats", 0, 0, 0)]
    assert list(history.redis.scan_iter(match=b"*" + history.project.encode())) == []


def test_a_newer_stream_value_survives_a_later_materialization(history: MiniRepo) -> None:
    view = history.store.get_feature_view("driver_stats")
    streamed = driver_rows([1], [NOW - HOUR + timedelta(minutes=30)], conv_rate=[0.75])
    OnlineWriter(history.redis, history.project).write(view, streamed.drop_columns(["rank"]))

    done = materialize(history.store, history.redis, NOW - 3 * HOUR, NOW - HOUR)

    assert summary(done) == [("driver_stats", 2, 1, 1)]
    assert feast_read(history, [1])["conv_rate"] == [0.75]


def test_incremental_runs_continue_where_the_last_one_ended(history: MiniRepo) -> None:
    materialize(history.store, history.redis, NOW - 3 * HOUR, NOW - HOUR)

    done = materialize_incremental(history.store, history.redis, NOW + HOUR)

    assert [(v.start, v.end) for v in done] == [(NOW - HOUR, NOW + HOUR)]
    assert summary(done) == [("driver_stats", 3, 3, 0)]
    assert feast_read(history, [1, 2, 3])["rank"] == ["b", "d", "e"]


def test_a_first_incremental_run_starts_one_ttl_before_its_end(history: MiniRepo) -> None:
    done = materialize_incremental(history.store, history.redis, NOW - HOUR)

    assert [(v.start, v.end) for v in done] == [(NOW - 2 * HOUR, NOW - HOUR)]


def test_start_after_end_and_unknown_views_are_refused(history: MiniRepo) -> None:
    with pytest.raises(MaterializationError, match="is after the end"):
        materialize(history.store, history.redis, NOW, NOW - HOUR)
    with pytest.raises(ObjectNotFoundError, match="feature view `nope` does not exist"):
        materialize(history.store, history.redis, NOW - HOUR, NOW, views=["nope"])
