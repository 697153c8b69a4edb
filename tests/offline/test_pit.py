"""Point-in-time join: hand-made cases and a property test against a brute-force oracle."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from featurestore.errors import RetrievalError
from featurestore.offline import (
    PointInTimeResult,
    SourceLocation,
    ViewSource,
    point_in_time_join,
    profile,
    refine,
)
from featurestore.offline import pit as pit_module
from featurestore.offline.gather import ParquetRows, gather, positional_source
from featurestore.offline.profile import SourceProfile, tied_pairs_limit

BASE = datetime(2024, 3, 10, 6, 0, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")


def at(minute: int) -> datetime:
    """A UTC instant `minute` minutes after BASE."""
    return BASE + timedelta(minutes=minute)


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    yield connection
    connection.close()


def make_events(
    con: duckdb.DuckDBPyConnection,
    name: str,
    rows: Sequence[dict[str, Any]],
    *,
    keys: Sequence[str] = ("driver",),
    features: Sequence[str] = ("trips",),
) -> str:
    """Register feature rows (`event`/`created` in minutes) as relation `name` and return it."""
    schema = pa.schema(
        [(key, pa.int64()) for key in keys]
        + [(feature, pa.int64()) for feature in features]
        + [("event_ts", TS), ("created_ts", TS)]
    )
    columns: dict[str, list[Any]] = {column: [] for column in schema.names}
    for row in rows:
        for column in (*keys, *features):
            columns[column].append(row[column])
        columns["event_ts"].append(at(row["event"]))
        created = row.get("created", row["event"])
        columns["created_ts"].append(None if created is None else at(created))
    con.register(name, pa.table(columns, schema=schema))
    return name


def make_view(
    table: str,
    *,
    name: str = "driver_stats",
    keys: tuple[str, ...] = ("driver",),
    features: tuple[str, ...] = ("trips",),
    created: bool = True,
    ttl: timedelta | None = None,
) -> ViewSource:
    return ViewSource(
        name=name,
        location=SourceLocation.relation(table),
        join_keys=keys,
        features=features,
        timestamp_field="event_ts",
        created_timestamp_field="created_ts" if created else None,
        ttl=ttl,
    )


def make_spine(rows: Sequence[tuple[int, int]], **extra: list[Any]) -> pa.Table:
    """A spine of (driver, minute) rows plus any extra columns."""
    return pa.table(
        {
            "driver": pa.array([driver for driver, _ in rows], pa.int64()),
            "event_timestamp": pa.array([at(minute) for _, minute in rows], TS),
            **extra,
        }
    )


def spine_rows(spine: pa.Table, **features: list[Any]) -> list[dict[str, Any]]:
    """The spine's rows with the expected feature columns appended."""
    rows = spine.to_pylist()
    for name, values in features.items():
        for row, value in zip(rows, values, strict=True):
            row[name] = value
    return rows


def test_feature_dated_after_entity_time_is_invisible(con: duckdb.DuckDBPyConnection) -> None:
    table = make_events(con, "stats", [{"driver": 1, "trips": 10, "event": 5}])
    spine = make_spine([(1, 4), (1, 5)])

    result = point_in_time_join(con, spine, [make_view(table)])

    assert result.table.to_pylist() == spine_rows(spine, trips=[None, 10])
    assert result.hidden_by_knowledge_time == {"driver_stats": 0}


def test_ttl_nulls_older_rows_and_keeps_the_boundary(con: duckdb.DuckDBPyConnection) -> None:
    table = make_events(con, "stats", [{"driver": 1, "trips": 10, "event": 0}])
    spine = make_spine([(1, 9), (1, 10), (1, 11)])

    result = point_in_time_join(con, spine, [make_view(table, ttl=timedelta(minutes=10))])

    assert result.table.to_pylist() == spine_rows(spine, trips=[10, 10, None])


def test_older_row_does_not_revive_when_newest_is_past_ttl(
    con: duckdb.DuckDBPyConnection,
) -> None:
    rows = [{"driver": 1, "trips": 10, "event": 0}, {"driver": 1, "trips": 20, "event": 2}]
    table = make_events(con, "stats", rows)
    spine = make_spine([(1, 3), (1, 4)])

    result = point_in_time_join(con, spine, [make_view(table, ttl=timedelta(minutes=1))])

    assert result.table.to_pylist() == spine_rows(spine, trips=[20, None])


def test_zero_ttl_is_unbounded(con: duckdb.DuckDBPyConnection) -> None:
    table = make_events(con, "stats", [{"driver": 1, "trips": 10, "event": 0}])
    spine = make_spine([(1, 10_000)])

    result = point_in_time_join(con, spine, [make_view(table, ttl=timedelta(0))])

    assert result.table.to_pylist() == spine_rows(spine, trips=[10])


def test_same_event_time_resolves_to_latest_created(con: duckdb.DuckDBPyConnection) -> None:
    rows: list[dict[str, Any]] = [
        {"driver": 1, "trips": 10, "event": 1, "created": 2},
        {"driver": 1, "trips": 30, "event": 1, "created": 3},
        {"driver": 1, "trips": 20, "event": 1, "created": 1},
        {"driver": 1, "trips": 40, "event": 1, "created": None},
    ]
    table = make_events(con, "stats", rows)
    spine = make_spine([(1, 1), (1, 2), (1, 5)])

    known = point_in_time_join(con, spine, [make_view(table)])
    unruled = point_in_time_join(con, spine, [make_view(table)], as_known_at=False)

    assert known.table.to_pylist() == spine_rows(spine, trips=[20, 10, 30])
    assert known.hidden_by_knowledge_time == {"driver_stats": 2}
    assert unruled.table.to_pylist() == spine_rows(spine, trips=[30, 30, 30])
    assert unruled.hidden_by_knowledge_time == {"driver_stats": 0}


def test_row_created_after_entity_time_is_hidden_and_counted(
    con: duckdb.DuckDBPyConnection,
) -> None:
    rows = [
        {"driver": 1, "trips": 10, "event": 0, "created": 0},
        # A backfill: dated at minute 2 but only written at minute 6.
        {"driver": 1, "trips": 20, "event": 2, "created": 6},
        {"driver": 2, "trips": 70, "event": 1, "created": 8},
    ]
    table = make_events(con, "stats", rows)
    spine = make_spine([(1, 3), (1, 6), (2, 4), (2, 9), (1, 1)])

    known = point_in_time_join(con, spine, [make_view(table)])
    unruled = point_in_time_join(con, spine, [make_view(table)], as_known_at=False)
    no_created = point_in_time_join(con, spine, [make_view(table, created=False)])

    assert known.table.to_pylist() == spine_rows(spine, trips=[10, 20, None, 70, 10])
    assert known.hidden_by_knowledge_time == {"driver_stats": 2}
    assert unruled.table.to_pylist() == spine_rows(spine, trips=[20, 20, 70, 70, 10])
    assert unruled.hidden_by_knowledge_time == {"driver_stats": 0}
    assert no_created.table.to_pylist() == unruled.table.to_pylist()


def test_picks_near_their_lag_are_resolved_and_counted_exactly(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    """From a Parquet file, a pick within the largest lag of a lone row of the entity time
    may or may not have been known then: either way the answer and the hidden count are exact."""
    rows = [
        {"driver": 1, "trips": 10, "event": 0, "created": 5},
        {"driver": 1, "trips": 20, "event": 10, "created": 12},
        # Restated: the first version was known at minute 21, the second at minute 40.
        {"driver": 1, "trips": 30, "event": 20, "created": 21},
        {"driver": 1, "trips": 31, "event": 20, "created": 40},
        # Most rows are known when they happen (so the source is not one backfill load).
        *({"driver": 2, "trips": minute, "event": minute} for minute in range(0, 1500, 100)),
    ]
    path = tmp_path / "stats.parquet"
    pq.write_table(
        con.sql(f"SELECT * FROM {make_events(con, 'stats', rows)}").to_arrow_table(), path
    )
    view = ViewSource(**{**make_view("stats").__dict__, "location": SourceLocation.parquet(path)})
    spine = make_spine([(1, 11), (1, 13), (1, 22), (1, 45), (1, 20), (1, 4)])

    known = point_in_time_join(con, spine, [view])
    in_join = point_in_time_join(con, spine, [make_view("stats")])

    # Minute 13: the row of minute 10 (created at 12) was known, though within 5 minutes.
    assert known.table.to_pylist() == spine_rows(spine, trips=[10, 20, 30, 31, 20, None])
    assert known.hidden_by_knowledge_time == {"driver_stats": 4}
    assert in_join.table.to_pylist() == known.table.to_pylist()
    assert in_join.hidden_by_knowledge_time == known.hidden_by_knowledge_time


def test_rows_no_spine_row_can_see_are_skipped_without_changing_answers(
    con: duckdb.DuckDBPyConnection,
) -> None:
    """A few spine rows against a long history with a short ttl: the join reads only the rows
    inside some spine row's ttl window, and answers as if it read them all, at the window's
    edges too."""
    rows = [
        {"driver": driver, "trips": driver * 10000 + minute, "event": minute, "created": minute}
        for driver in range(1, 4)
        for minute in range(0, 6000, 40)
    ]
    table = make_events(con, "history", rows)
    view = make_view(table, ttl=timedelta(minutes=30))
    # Rows every 40 minutes, a 30-minute ttl: at 1230 the row of 1200 is on the window's
    # oldest edge, at 1231 it is past it; at 3000 the row of 3000 itself; driver 9 has no rows.
    spine = make_spine([(1, 1230), (2, 1231), (3, 3000), (1, 3039), (9, 10), (2, -5)])

    pruned = point_in_time_join(con, spine, [view])
    with mock.patch.object(pit_module, "PRUNE_BELOW_SHARE", 0.0):
        whole = point_in_time_join(con, spine, [view])

    expected = [10000 + 1200, None, 30000 + 3000, None, None, None]
    assert pruned.table.to_pylist() == spine_rows(spine, trips=expected)
    assert whole.table.to_pylist() == pruned.table.to_pylist()


def test_spine_order_duplicates_and_extra_columns_are_kept(
    con: duckdb.DuckDBPyConnection,
) -> None:
    rows = [{"driver": d, "trips": d * 10 + m, "event": m} for d in (1, 2, 3) for m in (0, 4)]
    table = make_events(con, "stats", rows)
    spine = pa.table(
        {
            "label": ["c", "a", "a", "b", "z"],
            "event_timestamp": pa.array([at(5), at(1), at(1), at(3), at(9)], TS),
            "driver": pa.array([3, 1, 1, 2, None], pa.int64()),
            "weight": [0.5, 1.0, 1.0, 2.0, 3.0],
        }
    )

    result = point_in_time_join(con, spine, [make_view(table)])

    assert result.table.schema.names == ["label", "event_timestamp", "driver", "weight", "trips"]
    assert result.table.to_pylist() == spine_rows(spine, trips=[34, 10, 10, 20, None])


def test_large_spine_keeps_its_order(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("SET threads = 4")
    table = make_events(con, "stats", [{"driver": d, "trips": d, "event": 0} for d in range(50)])
    drivers = [(i * 7919) % 50 for i in range(200_000)]
    spine = make_spine([(driver, 1) for driver in drivers])

    result = point_in_time_join(con, spine, [make_view(table)])

    assert result.table.column("trips").to_pylist() == drivers


def test_spine_as_table_expression_and_naive_timestamps_are_utc(
    con: duckdb.DuckDBPyConnection,
) -> None:
    # A plain cast of a naive timestamp to TIMESTAMPTZ would use this zone instead of UTC.
    con.execute("SET TimeZone = 'America/New_York'")
    table = make_events(con, "stats", [{"driver": 1, "trips": 10, "event": 5}])
    naive = [at(4).replace(tzinfo=None), at(5).replace(tzinfo=None)]
    con.register("entities", pa.table({"driver": [1, 1], "event_timestamp": naive}))

    result = point_in_time_join(con, "entities", [make_view(table)])

    assert result.table.to_pylist() == [
        {"driver": 1, "event_timestamp": naive[0], "trips": None},
        {"driver": 1, "event_timestamp": naive[1], "trips": 10},
    ]


def test_several_views_with_their_own_keys_and_ttls(con: duckdb.DuckDBPyConnection) -> None:
    drivers = make_events(
        con,
        "drivers",
        [{"driver": 1, "trips": 10, "event": 0}, {"driver": 1, "trips": 11, "event": 3}],
    )
    routes = make_events(
        con,
        "routes",
        [
            {"driver": 1, "city": 7, "fare": 100, "event": 1},
            {"driver": 1, "city": 8, "fare": 200, "event": 1},
        ],
        keys=("driver", "city"),
        features=("fare",),
    )
    spine = make_spine([(1, 2), (1, 4), (1, 9)], city=[7, 8, 7])
    route_view = make_view(
        routes, name="routes", keys=("driver", "city"), features=("fare",), ttl=timedelta(minutes=5)
    )

    result = point_in_time_join(con, spine, [make_view(drivers), route_view])

    assert result.table.to_pylist() == spine_rows(spine, trips=[10, 11, 11], fare=[100, 200, None])
    assert result.hidden_by_knowledge_time == {"driver_stats": 0, "routes": 0}


def test_full_feature_names_prefix_the_view(con: duckdb.DuckDBPyConnection) -> None:
    table = make_events(con, "stats", [{"driver": 1, "trips": 10, "event": 0}])
    spine = make_spine([(1, 1)])
    views = [make_view(table), make_view(table, name="other_stats")]

    result = point_in_time_join(con, spine, views, full_feature_names=True)

    assert result.table.to_pylist() == spine_rows(
        spine, driver_stats__trips=[10], other_stats__trips=[10]
    )


def test_clashing_feature_names_are_refused(con: duckdb.DuckDBPyConnection) -> None:
    table = make_events(con, "stats", [{"driver": 1, "trips": 10, "event": 0}])
    spine = make_spine([(1, 1)], trips=[3])

    with pytest.raises(RetrievalError, match=r"`trips`.*full_feature_names=True"):
        point_in_time_join(con, spine, [make_view(table)])
    with pytest.raises(RetrievalError, match=r"`trips`.*`driver_stats`.*full_feature_names"):
        point_in_time_join(
            con, make_spine([(1, 1)]), [make_view(table), make_view(table, name="other")]
        )


def test_missing_columns_are_named(con: duckdb.DuckDBPyConnection) -> None:
    table = make_events(con, "stats", [{"driver": 1, "trips": 10, "event": 0}])
    spine = make_spine([(1, 1)])

    with pytest.raises(RetrievalError, match="`ts`"):
        point_in_time_join(con, spine, [make_view(table)], event_timestamp_column="ts")
    with pytest.raises(RetrievalError, match="`city`"):
        point_in_time_join(con, spine, [make_view(table, keys=("driver", "city"))])
    with pytest.raises(RetrievalError, match="`speed`"):
        point_in_time_join(con, spine, [make_view(table, features=("speed",))])


def test_running_out_of_memory_says_which_settings_to_change() -> None:
    rows = 300_000
    times = pa.array(range(0, rows * 1_000_000, 1_000_000), pa.timestamp("us", tz="UTC"))
    features = pa.table({"driver": pa.array(range(rows)), "event_ts": times, "trips": times})
    with duckdb.connect() as con:
        con.execute("SET memory_limit = '4MB'")
        con.execute("SET temp_directory = ''")  # nowhere to spill
        con.register("trips", features)
        spine = pa.table({"driver": features.column("driver"), "event_timestamp": times})

        with pytest.raises(RetrievalError, match=r"ran out of memory.*`memory_limit`.*`temp_dir"):
            point_in_time_join(con, spine, [make_view("trips", created=False)])


def _typed_features(path: Path) -> ViewSource:
    """A Parquet view whose features have several Arrow types, some values null."""
    table = pa.table(
        {
            "driver": pa.array([1, 1, 2, 2], pa.int64()),
            "event_ts": pa.array([at(0), at(5), at(1), at(2)], TS),
            "label": pa.array(["a", None, "c", "d"], pa.string()),
            "seen": pa.array([at(9), at(8), None, at(7)], pa.timestamp("ms", tz="UTC")),
            "scores": pa.array([[1.0], [2.0, 3.0], None, []], pa.list_(pa.float64())),
            "flag": pa.array([True, None, False, True], pa.bool_()),
        }
    )
    pq.write_table(table, path, row_group_size=2)
    return ViewSource(
        name="typed",
        location=SourceLocation.parquet(path),
        join_keys=("driver",),
        features=("label", "seen", "scores", "flag"),
        timestamp_field="event_ts",
    )


def test_features_read_by_position_equal_those_read_in_the_join(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    by_position = _typed_features(tmp_path / "typed.parquet")
    # The same file through a table expression is read in the join.
    in_join = ViewSource(
        **{**by_position.__dict__, "location": SourceLocation.relation(by_position.table)}
    )
    spine = make_spine([(2, 3), (1, 6), (3, 6), (1, -1), (1, 4), (2, 1)])

    # Every feature type here is read from the file by position, none in the join itself.
    file = by_position.location.positional_file
    assert positional_source(con, file, by_position.table, by_position.features)
    late = point_in_time_join(con, spine, [by_position]).table
    early = point_in_time_join(con, spine, [in_join]).table

    assert late.to_pylist() == early.to_pylist()
    assert late.schema == early.schema
    assert late.column("label").to_pylist() == ["d", None, None, None, "a", "c"]


def test_source_file_changed_after_the_join_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "typed.parquet"
    _typed_features(path)
    planned = ParquetRows.of(str(path))
    # Rewritten between the join (which chose row positions) and the read of the features.
    pq.write_table(pq.read_table(path).slice(1), path)

    with pytest.raises(RetrievalError, match="changed while the point-in-time join read it"):
        gather(planned, ["label"], pa.chunked_array([pa.array([0, 2], pa.int64())]))


# ---- property test against a brute-force oracle ------------------------------------------

KEYS = ("a", "b")


@dataclass(frozen=True)
class OracleView:
    name: str
    keys: tuple[str, ...]
    features: tuple[str, ...]
    has_created: bool
    ttl: int | None
    rows: tuple[dict[str, Any], ...]


def _latest(view: OracleView, entity: dict[str, Any], rule: bool) -> dict[str, Any] | None:
    """The semantics in plain loops: the visible row with max (event, created), or None."""
    t = entity["t"]
    if t is None:
        return None
    visible = [
        row
        for row in view.rows
        if all(row[k] is not None and row[k] == entity[k] for k in view.keys)
        and row["event"] <= t
        and (not view.ttl or row["event"] >= t - view.ttl)
        and (not rule or row["created"] is None or row["created"] <= t)
    ]
    if not visible:
        return None
    return max(
        visible,
        key=lambda row: (row["event"], row["created"] is not None, row["created"] or 0),
    )


def _identity(row: dict[str, Any] | None) -> tuple[Any, ...] | None:
    return None if row is None else (row["event"], row["created"])


def _oracle(
    spine: list[dict[str, Any]], views: list[OracleView], as_known_at: bool, full: bool
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The features of each spine row, and per view the spine rows for which the created-time
    rule chose another row than the one chosen without it."""
    out: list[dict[str, Any]] = [{} for _ in spine]
    hidden: dict[str, int] = {}
    for view in views:
        rule = as_known_at and view.has_created
        hidden[view.name] = 0
        for entity, row in zip(spine, out, strict=True):
            chosen = _latest(view, entity, rule)
            values = [None if chosen is None else chosen[f] for f in view.features]
            unruled = _latest(view, entity, False)
            if rule and _identity(chosen) != _identity(unruled):
                hidden[view.name] += 1
            for feature, value in zip(view.features, values, strict=True):
                row[f"{view.name}__{feature}" if full else feature] = value
    return out, hidden


def rarely_none(values: st.SearchStrategy[int]) -> st.SearchStrategy[int | None]:
    """`values`, or None about one time in eight (`one_of` with `none()` would be half)."""
    return st.tuples(st.integers(0, 7), values).map(lambda pair: None if pair[0] == 7 else pair[1])


minutes = st.integers(min_value=0, max_value=6)
key_values = rarely_none(st.integers(min_value=0, max_value=1))


LATENESS = {
    # created time minus event time, per row: sometimes early or late, rarely late, always late
    "mixed": st.integers(-2, 3),
    "few_late": st.integers(0, 7).map(lambda d: d - 4 if d > 4 else 0),
    "all_late": st.integers(1, 6),
}


@st.composite
def oracle_views(draw: st.DrawFn, index: int) -> OracleView:
    keys = draw(st.sampled_from([("a",), ("b",), ("a", "b"), ("b", "a")]))
    features = tuple(f"f{index}_{j}" for j in range(draw(st.integers(1, 2))))
    has_created = draw(st.booleans())
    lag = LATENESS[draw(st.sampled_from(sorted(LATENESS)))]
    created = rarely_none(st.builds(lambda e, d: e + d, minutes, lag))
    row = st.fixed_dictionaries(
        {
            **dict.fromkeys(keys, key_values),
            **dict.fromkeys(features, rarely_none(st.integers(0, 99))),
            "event": minutes,
            "created": created if has_created else st.none(),
        }
    )

    def identity(row: dict[str, Any]) -> tuple[Any, ...]:
        # Rows equal in (keys, event, created) tie for real; the engine may pick either.
        return (*(row[k] for k in keys), row["event"], row["created"])

    rows = draw(st.lists(row, min_size=1, max_size=10, unique_by=identity))
    if has_created:
        # Restatements: same key and event time, other values, created later.
        restated = draw(st.lists(st.tuples(st.sampled_from(rows), st.integers(1, 6)), max_size=4))
        for original, delay in restated:
            again = {**original, **{f: draw(rarely_none(st.integers(0, 99))) for f in features}}
            again["created"] = (original["created"] or original["event"]) + delay
            rows.append(again)
        rows = list({identity(row): row for row in rows}.values())
    ttl = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=3)))
    return OracleView(f"v{index}", keys, features, has_created, ttl, tuple(rows))


def _register(con: duckdb.DuckDBPyConnection, view: OracleView, folder: Path | None) -> ViewSource:
    """The view's rows as an in-memory relation, or as a Parquet file (in small row groups, so
    features are read back by position across several of them) when `folder` is given."""
    columns: dict[str, pa.Array] = {
        name: pa.array([row[name] for row in view.rows], pa.int64())
        for name in (*view.keys, *view.features)
    }
    columns["event_ts"] = pa.array([at(row["event"]) for row in view.rows], TS)
    if view.has_created:
        created = [None if row["created"] is None else at(row["created"]) for row in view.rows]
        columns["created_ts"] = pa.array(created, TS)
    if folder is None:
        con.register(view.name, pa.table(columns))
        location = SourceLocation.relation(view.name)
    else:
        parquet_file = folder / f"{view.name}.parquet"
        pq.write_table(pa.table(columns), parquet_file, row_group_size=3)
        location = SourceLocation.parquet(parquet_file)
    return ViewSource(
        name=view.name,
        location=location,
        join_keys=view.keys,
        features=view.features,
        timestamp_field="event_ts",
        created_timestamp_field="created_ts" if view.has_created else None,
        ttl=None if view.ttl is None else timedelta(minutes=view.ttl),
    )


@settings(max_examples=500, deadline=None)
@given(
    views=st.integers(1, 3).flatmap(
        lambda n: st.tuples(*(oracle_views(index) for index in range(n)))
    ),
    spine=st.lists(
        st.fixed_dictionaries(
            {"a": key_values, "b": key_values, "t": rarely_none(st.integers(0, 8))}
        ),
        min_size=1,
        max_size=12,
    ),
    as_known_at=st.booleans(),
    full_feature_names=st.booleans(),
    spine_zone=st.sampled_from(
        [None, "UTC", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"]
    ),
    in_parquet=st.booleans(),
    method=st.sampled_from(["profile", "refine", "refine_by_window", "window"]),
    ties_in_sort=st.booleans(),
)
def test_matches_brute_force_oracle(
    views: tuple[OracleView, ...],
    spine: list[dict[str, Any]],
    as_known_at: bool,
    full_feature_names: bool,
    spine_zone: str | None,
    in_parquet: bool,
    method: str,
    ties_in_sort: bool,
) -> None:
    """Every way of applying the rule (refining a plain join's late picks, by a join or a
    window, or one window over every row), and the one the profile chooses, give the oracle's
    answer, and the hidden-row report its brute-force count; so do both ways of breaking
    event-time ties (resolving the tied picks after a join on event time, or ordering by
    (event, created) in the join)."""
    times = [None if row["t"] is None else at(row["t"]) for row in spine]
    spine_table = pa.table(
        {
            "b": pa.array([row["b"] for row in spine], pa.int64()),
            "row_label": [f"r{i}" for i in range(len(spine))],
            "a": pa.array([row["a"] for row in spine], pa.int64()),
            "ts": pa.array(times, TS),
        }
    )
    # The same instants, naive (read as UTC) or shown in another zone.
    zoned = spine_table.column("ts").cast(pa.timestamp("us", tz=spine_zone))
    spine_table = spine_table.set_column(3, "ts", zoned)
    expected_features, expected_hidden = _oracle(
        spine, list(views), as_known_at, full_feature_names
    )
    backfilled = {
        "profile": SourceProfile.backfilled,
        "refine": property(lambda _: False),
        "refine_by_window": property(lambda _: False),
        "window": property(lambda profile: profile.late_created),
    }[method]
    # The second pass joins open spine rows to their key's rows unless that is too many pairs.
    max_pairs = 0 if method == "refine_by_window" else refine.MAX_JOINED_PAIRS
    with (
        duckdb.connect() as con,
        tempfile.TemporaryDirectory() as folder,
        mock.patch.object(SourceProfile, "backfilled", backfilled),
        mock.patch.object(refine, "MAX_JOINED_PAIRS", max_pairs),
        mock.patch.object(
            profile, "tied_pairs_limit", (lambda _: -1) if ties_in_sort else tied_pairs_limit
        ),
    ):
        # Naive spine times must still be read as UTC, whatever the session's zone.
        con.execute("SET TimeZone = 'Asia/Kolkata'")
        sources = [_register(con, view, Path(folder) if in_parquet else None) for view in views]

        result: PointInTimeResult = point_in_time_join(
            con,
            spine_table,
            sources,
            event_timestamp_column="ts",
            as_known_at=as_known_at,
            full_feature_names=full_feature_names,
        )

    expected = [
        {**base, **features}
        for base, features in zip(spine_table.to_pylist(), expected_features, strict=True)
    ]
    assert result.table.to_pylist() == expected
    assert result.hidden_by_knowledge_time == expected_hidden
