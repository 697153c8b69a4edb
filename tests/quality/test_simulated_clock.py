"""The simulated clock's incremental materialization against a brute-force point-in-time oracle:
after the batches of every tick up to a request, written with the online writer's rule (never
over a newer event time), each key holds the row of max (event, created) time known at the
tick, and the ttl judged at the request time leaves exactly the join's answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from featurestore.errors import RetrievalError
from featurestore.offline.source import SourceLocation, ViewSource
from featurestore.quality.simulate import EVENT_TIME, batches_per_tick, request_ticks

BASE = datetime(2013, 3, 4, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")


def at(minute: int) -> datetime:
    return BASE + timedelta(minutes=minute)


rows_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "key": st.integers(0, 2),
            "event": st.integers(0, 40),
            "lag": st.integers(-5, 20),  # created minus event: known early, on time or late
            "value": st.integers(0, 1000),
        }
    ),
    max_size=25,
)


def _oracle(rows: list[dict[str, Any]], key: int, tick: int, now: int, ttl: int | None) -> Any:
    """The row of max (event, created) with both at or before `tick`, if within ttl at `now`."""
    known = [
        row
        for row in rows
        if row["key"] == key and row["event"] <= tick and row["event"] + row["lag"] <= tick
    ]
    if not known:
        return None
    best = max(known, key=lambda row: (row["event"], row["event"] + row["lag"]))
    if ttl is not None and best["event"] < now - ttl:
        return None
    # Exact (key, event, created) duplicates: any of their values is a correct answer.
    return {
        row["value"] for row in known if (row["event"], row["lag"]) == (best["event"], best["lag"])
    }


@settings(max_examples=60, deadline=None)
@given(
    rows=rows_strategy,
    requests=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 60)), min_size=1, max_size=12),
    step=st.sampled_from([None, 5, 15]),
    ttl=st.sampled_from([None, 10]),
)
def test_served_state_equals_the_point_in_time_row_known_at_each_tick(
    rows: list[dict[str, Any]],
    requests: list[tuple[int, int]],
    step: int | None,
    ttl: int | None,
) -> None:
    requests = sorted(requests, key=lambda request: request[1])
    times = [at(minute) for _, minute in requests]
    ticks = request_ticks(times, None if step is None else timedelta(minutes=step))
    con = duckdb.connect()
    con.register(
        "source",
        pa.table(
            {
                "key": pa.array([row["key"] for row in rows], pa.int64()),
                "value": pa.array([row["value"] for row in rows], pa.int64()),
                "event_ts": pa.array([at(row["event"]) for row in rows], TS),
                "created_ts": pa.array([at(row["event"] + row["lag"]) for row in rows], TS),
            }
        ),
    )
    source = ViewSource(
        name="v",
        location=SourceLocation.relation("source"),
        join_keys=("key",),
        features=("value",),
        timestamp_field="event_ts",
        created_timestamp_field="created_ts",
    )

    batches = batches_per_tick(con, source, sorted(set(ticks)))
    con.close()

    state: dict[int, tuple[datetime, Any]] = {}
    written_through: datetime | None = None
    for (key, minute), tick in zip(requests, ticks, strict=True):
        for moment in sorted(batches):
            if moment <= tick and (written_through is None or moment > written_through):
                for row in batches[moment].to_pylist():
                    stored = state.get(row["key"])
                    if stored is None or row[EVENT_TIME] >= stored[0]:  # the writer's rule
                        state[row["key"]] = (row[EVENT_TIME], row["value"])
        written_through = tick
        tick_minute = int((tick - BASE) / timedelta(minutes=1))
        expected = _oracle(rows, key, tick_minute, minute, ttl)
        stored = state.get(key)
        served = None
        if stored is not None and (ttl is None or stored[0] >= at(minute - ttl)):
            served = stored[1]
        if expected is None:
            assert served is None
        else:
            assert served in expected


def test_ticks_follow_the_step_from_the_first_request() -> None:
    times = [at(0), at(7), at(15), at(16), at(44)]

    assert request_ticks(times, None) == times
    assert request_ticks(times, timedelta(minutes=15)) == [at(0), at(0), at(15), at(15), at(30)]
    with pytest.raises(RetrievalError, match="not positive"):
        request_ticks(times, timedelta(0))
