"""The offline engine: settings on its connection, one column check, typed source locations."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featurestore.errors import ConfigError, RetrievalError
from featurestore.offline import OfflineEngine, SourceLocation, ViewSource

T0 = datetime(2024, 5, 1, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")


def write_rows(path: Path) -> None:
    pq.write_table(
        pa.table(
            {
                "id": pa.array([1, 1, 1, 2], pa.int64()),
                "raw_score": pa.array([1.0, 2.0, 3.0, 9.0]),
                "ts": pa.array([T0, T0 + timedelta(hours=1), T0 + timedelta(hours=1), T0], TS),
                "created": pa.array([T0, T0 + timedelta(hours=5), T0 + timedelta(hours=2), T0], TS),
            }
        ),
        path,
    )


def view(path: Path, **changes: object) -> ViewSource:
    fields: dict[str, object] = {
        "name": "scores",
        "location": SourceLocation.parquet(path, {"raw_score": "score"}),
        "join_keys": ("id",),
        "features": ("score",),
        "timestamp_field": "ts",
        "created_timestamp_field": "created",
    }
    return ViewSource(**{**fields, **changes})  # type: ignore[arg-type]


def test_the_connection_has_the_store_settings(tmp_path: Path) -> None:
    settings = SimpleNamespace(memory_limit="123MB", threads=1, temp_directory=str(tmp_path))
    with OfflineEngine(settings) as engine:
        rows = engine.connection.sql(
            "SELECT current_setting('memory_limit'), current_setting('threads'), "
            "current_setting('TimeZone')"
        ).fetchall()

    memory, threads, zone = rows[0]
    assert memory.replace(" ", "").upper().startswith(("117.3MIB", "123MB", "117MIB"))
    assert (threads, zone) == (1, "UTC")


def test_a_bad_setting_names_the_setting() -> None:
    engine = OfflineEngine(SimpleNamespace(memory_limit="plenty"))
    with pytest.raises(ConfigError, match="memory_limit"):
        engine.all_rows(view(Path("unused.parquet")))


def test_latest_all_rows_profile_and_retrieval_read_one_location(tmp_path: Path) -> None:
    path = tmp_path / "scores.parquet"
    write_rows(path)
    source = view(path)
    at_hour_3 = pa.array([T0 + timedelta(hours=3)] * 2, TS)
    spine = pa.table({"id": pa.array([1, 1], pa.int64()), "event_timestamp": at_hour_3})
    end = T0 + timedelta(days=1)

    with OfflineEngine() as engine:
        latest = engine.latest(source, T0, end)
        every = engine.all_rows(source)
        profile = engine.profile(source)
        known = engine.historical_features(spine, [source])

    # Ties on event time go to the latest created (renamed column read under its new name).
    assert sorted(latest.select(["id", "score"]).to_pylist(), key=lambda r: r["id"]) == [
        {"id": 1, "score": 2.0},
        {"id": 2, "score": 9.0},
    ]
    assert every.num_rows == 4
    assert (profile.event_ties, profile.late_created) == (True, True)
    # At hour 3 the restatement created at hour 5 is not known yet: the one created at 2 is.
    assert known.table.column("score").to_pylist() == [3.0, 3.0]
    assert known.hidden_by_knowledge_time == {"scores": 2}


def test_a_missing_column_is_reported_alike_by_every_reader(tmp_path: Path) -> None:
    path = tmp_path / "scores.parquet"
    write_rows(path)
    source = view(path, features=("score", "speed"))
    spine = pa.table({"id": pa.array([1], pa.int64()), "event_timestamp": pa.array([T0], TS)})

    with OfflineEngine() as engine:
        messages = []
        for read in (
            lambda: engine.latest(source, T0, T0),
            lambda: engine.all_rows(source),
            lambda: engine.historical_features(spine, [source]),
        ):
            with pytest.raises(RetrievalError) as raised:
                read()
            messages.append(str(raised.value))

    assert len(set(messages)) == 1
    assert "has no column(s) `speed`" in messages[0]


def test_the_fingerprint_follows_the_files(tmp_path: Path) -> None:
    path = tmp_path / "scores.parquet"
    write_rows(path)
    location = SourceLocation.parquet(path)
    before = location.fingerprint()

    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))

    assert before is not None
    assert location.fingerprint() not in (None, before)
    assert SourceLocation.parquet(tmp_path / "*.parquet").files() == [path]
    assert SourceLocation.relation("some_table").fingerprint() is None
    assert SourceLocation.parquet(tmp_path / "missing.parquet").fingerprint() is None
