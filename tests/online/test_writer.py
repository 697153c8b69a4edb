"""OnlineWriter against a real Redis: Feast reads back what it writes; newer values stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
import redis
from feast import Entity, FeatureView, Field, ValueType
from feast.types import Bool, Bytes, Float32, Float64, Int32, Int64, String, UnixTimestamp
from online_repo import (
    NOW,
    SERVING,
    MiniRepo,
    city,
    driver,
    driver_rows,
    driver_stats_view,
    timestamps,
)
from redis.backoff import NoBackoff
from redis.retry import Retry

from featurestore.errors import TransientError
from featurestore.online.encoding import EncodingError
from featurestore.online.writer import OnlineWriter, WriteResult
from featurestore.services.process import free_port

pytestmark = pytest.mark.integration


def read_with_feast(repo: MiniRepo, refs: list[str], rows: list[dict[str, object]]) -> dict:
    return repo.store.get_online_features(features=refs, entity_rows=rows).to_dict()


def test_feast_reads_back_every_scalar_type_over_two_join_keys(repo: MiniRepo) -> None:
    schema = {
        "f64": Float64,
        "f32": Float32,
        "i64": Int64,
        "i32": Int32,
        "flag": Bool,
        "text": String,
        "blob": Bytes,
        "seen": UnixTimestamp,
    }
    table = pa.table(
        {
            "driver_id": pa.array([1, -2, 3], pa.int64()),
            "city": ["Zürich", "Lyon", ""],
            "f64": [1.5, None, -0.0],
            "f32": pa.array([0.25, 3.5, None], pa.float32()),
            "i64": pa.array([2**62, None, -7], pa.int64()),
            "i32": pa.array([None, -(2**31), 5], pa.int32()),
            "flag": [True, False, None],
            "text": ["é", None, ""],
            "blob": [b"\x00\x01", b"", None],
            "seen": timestamps(NOW, NOW - timedelta(days=400), NOW),
            "event_timestamp": timestamps(NOW, NOW, NOW),
        }
    )
    source = repo.source("typed", table)
    view = FeatureView(
        name="typed",
        entities=[driver, city],
        ttl=timedelta(0),
        schema=[Field(name=name, dtype=dtype) for name, dtype in schema.items()],
        source=source,
        tags=SERVING,
    )
    repo.apply(view)
    # Two record batches: Feast's own writer would silently keep only the first.
    chunked = pa.Table.from_batches([*table.slice(0, 1).to_batches(), *table.slice(1).to_batches()])

    result = OnlineWriter(repo.redis, repo.project).write(view, chunked)

    rows = [
        {"driver_id": d, "city": c} for d, c in zip([1, -2, 3], ["Zürich", "Lyon", ""], strict=True)
    ]
    read = read_with_feast(repo, [f"typed:{name}" for name in schema], rows)
    assert result == WriteResult(written=3, skipped_older=0)
    expected = table.select(list(schema)).to_pydict()
    expected["f64"] = [1.5, None, -0.0]
    expected["seen"] = [
        moment.replace(microsecond=0) for moment in expected["seen"]
    ]  # Feast keeps UNIX_TIMESTAMP values to the second
    assert {name: read[name] for name in schema} == expected


def test_an_older_row_never_overwrites_a_newer_value(repo: MiniRepo) -> None:
    source = repo.source("stats", driver_rows([1], [NOW]))
    view = driver_stats_view(source)
    repo.apply(view)
    writer = OnlineWriter(repo.redis, repo.project)
    newer = driver_rows([1, 2], [NOW, NOW], conv_rate=[0.9, 0.8])
    older = driver_rows(
        [1, 2, 3], [NOW - timedelta(minutes=5), NOW, NOW], conv_rate=[0.1, 0.2, 0.3]
    )

    first = writer.write(view, newer)
    second = writer.write(view, older)

    read = read_with_feast(repo, ["driver_stats:conv_rate"], [{"driver_id": i} for i in (1, 2, 3)])
    assert (first, second) == (WriteResult(2, 0), WriteResult(written=2, skipped_older=1))
    # Key 1 kept its newer value; key 2 had the same event time, so the rewrite went through.
    assert read["conv_rate"] == [0.9, 0.2, 0.3]


def test_within_one_table_the_latest_event_time_wins_whatever_the_order(repo: MiniRepo) -> None:
    source = repo.source("stats", driver_rows([1], [NOW]))
    view = driver_stats_view(source)
    repo.apply(view)
    rows = driver_rows(
        [7, 7, 7],
        [NOW, NOW - timedelta(hours=1), NOW - timedelta(hours=2)],
        conv_rate=[0.5, 0.4, 0.3],
    )

    result = OnlineWriter(repo.redis, repo.project, batch_rows=2).write(view, rows)

    assert result == WriteResult(written=1, skipped_older=2)
    assert read_with_feast(repo, ["driver_stats:conv_rate"], [{"driver_id": 7}])["conv_rate"] == [
        0.5
    ]


def test_partial_rows_update_their_features_and_keep_the_others(repo: MiniRepo) -> None:
    source = repo.source("stats", driver_rows([1], [NOW]))
    view = driver_stats_view(source)
    repo.apply(view)
    writer = OnlineWriter(repo.redis, repo.project)
    writer.write(view, driver_rows([1], [NOW - timedelta(minutes=1)], conv_rate=[0.1]))

    writer.write(
        view,
        pa.table({"driver_id": [1], "trips": [42], "event_timestamp": timestamps(NOW)}),
    )

    read = read_with_feast(
        repo, ["driver_stats:conv_rate", "driver_stats:trips"], [{"driver_id": 1}]
    )
    assert (read["conv_rate"], read["trips"]) == ([0.1], [42])


def test_keys_expire_when_a_key_ttl_is_set(repo: MiniRepo) -> None:
    source = repo.source("stats", driver_rows([1], [NOW]))
    view = driver_stats_view(source)
    repo.apply(view)

    OnlineWriter(repo.redis, repo.project, key_ttl_seconds=600).write(view, driver_rows([5], [NOW]))

    keys = list(repo.redis.scan_iter(match=b"*" + repo.project.encode()))
    assert len(keys) == 1
    assert 0 < repo.redis.ttl(keys[0]) <= 600


def test_rows_without_join_keys_or_features_are_refused(repo: MiniRepo) -> None:
    view = driver_stats_view(repo.source("stats", driver_rows([1], [NOW])))
    repo.apply(view)
    writer = OnlineWriter(repo.redis, repo.project)

    with pytest.raises(EncodingError, match="has no join keys yet"):
        writer.write(driver_stats_view(view.batch_source), driver_rows([1], [NOW]))
    with pytest.raises(EncodingError, match="lack column\\(s\\) `driver_id`"):
        writer.write(view, pa.table({"trips": [1], "event_timestamp": timestamps(NOW)}))
    with pytest.raises(EncodingError, match="hold none of its features"):
        writer.write(view, pa.table({"driver_id": [1], "event_timestamp": timestamps(NOW)}))


def test_an_unreachable_redis_is_a_transient_error(repo: MiniRepo) -> None:
    view = driver_stats_view(repo.source("stats", driver_rows([1], [NOW])))
    repo.apply(view)
    down = redis.Redis(port=free_port(), retry=Retry(NoBackoff(), 0))

    with pytest.raises(TransientError, match="Redis did not answer"):
        OnlineWriter(down, repo.project).write(
            view, driver_rows([1], [datetime(2020, 1, 1, tzinfo=UTC)])
        )


def test_entity_value_types_come_from_the_entity(repo: MiniRepo) -> None:
    plain = Entity(name="plain", join_keys=["plain_id"], value_type=ValueType.INT32)
    table = pa.table(
        {"plain_id": pa.array([3], pa.int32()), "score": [1.0], "event_timestamp": timestamps(NOW)}
    )
    view = FeatureView(
        name="small",
        entities=[plain],
        schema=[Field(name="score", dtype=Float64)],
        source=repo.source("small", table),
        tags=SERVING,
    )
    repo.store.apply([plain, view])

    OnlineWriter(repo.redis, repo.project).write(view, table)

    assert read_with_feast(repo, ["small:score"], [{"plain_id": 3}])["score"] == [1.0]
