"""Aggregation specs: the consumer's incremental state and the DuckDB backfill both equal a
brute-force oracle of the stated semantics, for any events, arrival order and batching."""

from __future__ import annotations

from datetime import timedelta

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from featurestore.aggregations import (
    Aggregation,
    AggregationSpecError,
    WindowSpec,
    WindowState,
    backfill_sql,
)
from featurestore.aggregations.window import Values

_TEN, _FOUR = timedelta(microseconds=10), timedelta(microseconds=4)
SPEC = WindowSpec(
    view="test_view",
    key="k",
    allowed_lateness=timedelta(microseconds=3),
    aggregations=(
        Aggregation("n", "count", window=_TEN),
        Aggregation("n_x", "count", "x", _TEN),
        Aggregation("sum_x", "sum", "x", _TEN),
        Aggregation("mean_x", "mean", "x", _TEN),
        Aggregation("min_x", "min", "x", _TEN),
        Aggregation("max_x", "max", "x", _TEN),
        Aggregation("last_x", "last", "x", _TEN),
        Aggregation("distinct_x", "count_distinct", "x", _TEN),
        Aggregation("n_4", "count", window=_FOUR),
        Aggregation("sum_x_4", "sum", "x", _FOUR),
        Aggregation("distinct_c_4", "count_distinct", "c", _FOUR, "string"),
        Aggregation("max_c_4", "max", "c", _FOUR, "string"),
    ),
)

ArrivedEvent = tuple[str, int, int | None, str | None]  # key, event time (µs), x, c

events_strategy = st.lists(
    st.tuples(
        st.sampled_from(["a", "b"]),
        st.integers(min_value=0, max_value=40),
        st.none() | st.integers(min_value=-5, max_value=9),
        st.none() | st.sampled_from(["p", "q", "r"]),
    ),
    max_size=40,
)


def oracle(spec: WindowSpec, arrived: list[ArrivedEvent]) -> dict[tuple[str, int], Values]:
    """Every change point's values, computed from the definition in `spec.py` by brute force."""
    accepted: list[tuple[str, int, int, dict[str, int | None]]] = []
    watermark: dict[str, int] = {}
    for seq, (key, at, x, c) in enumerate(arrived):
        if key in watermark and at <= watermark[key] - spec.lateness_us:
            continue
        watermark[key] = max(watermark.get(key, at), at)
        accepted.append((key, at, seq, {"x": x, "c": c}))
    rows = {}
    for key, at, _, _ in accepted:
        for point in (at, *(at + w for w in spec.windows_us)):
            rows[(key, point)] = tuple(
                _brute(a, _inside(accepted, key, point, a.window_us)) for a in spec.aggregations
            )
    return rows


def _inside(accepted: list, key: str, point: int, window_us: int) -> list:
    return sorted(
        (e for e in accepted if e[0] == key and point - window_us < e[1] <= point),
        key=lambda e: (e[1], e[2]),
    )


def _brute(aggregation: Aggregation, inside: list) -> int | float | str | None:
    if not aggregation.column:
        return len(inside)
    values = [v for e in inside if (v := e[3][aggregation.column]) is not None]
    if aggregation.function == "count":
        return len(values)
    if aggregation.function == "count_distinct":
        return len(set(values))
    if not values:
        return None
    return {
        "sum": sum,
        "mean": lambda v: sum(v) / len(v),
        "min": min,
        "max": max,
        "last": lambda v: v[-1],
    }[aggregation.function](values)


def stream(
    spec: WindowSpec, arrived: list[ArrivedEvent], cuts: set[int]
) -> tuple[dict[tuple[str, int], Values], list[tuple[int, str, int, Values]]]:
    state = WindowState(spec)
    final: dict[tuple[str, int], Values] = {}
    current = []
    for seq, (key, at, x, c) in enumerate(arrived):
        state.add(key, at, seq, spec.input_values({"x": x, "c": c}))
        if seq in cuts or seq == len(arrived) - 1:
            rows, now = state.advance()
            for row in rows:
                assert (row.key, row.at_us) not in final, "a change point was emitted twice"
                final[(row.key, row.at_us)] = row.values
            current.extend((seq + 1, row.key, row.at_us, row.values) for row in now)
    return final, current


@settings(max_examples=300, deadline=None)
@given(arrived=events_strategy, cuts=st.sets(st.integers(min_value=0, max_value=40)))
def test_consumer_state_emits_each_final_change_point_once_with_oracle_values(
    arrived: list[ArrivedEvent], cuts: set[int]
) -> None:
    expected = oracle(SPEC, arrived)
    watermarks: dict[str, int] = {}
    for key, at, _, _ in arrived:
        watermarks[key] = max(watermarks.get(key, at), at)

    final, current = stream(SPEC, arrived, cuts)

    assert final == {
        (key, at): values
        for (key, at), values in expected.items()
        if at <= watermarks[key] - SPEC.lateness_us
    }
    for seen, key, at, values in current:  # the value online: at the key's watermark so far
        assert oracle(SPEC, arrived[:seen])[(key, at)] == values


@settings(max_examples=60, deadline=None)
@given(arrived=events_strategy)
def test_duckdb_backfill_equals_the_oracle_at_every_change_point(
    arrived: list[ArrivedEvent],
) -> None:
    table = pa.table(
        {
            "k": [e[0] for e in arrived],
            "t_us": pa.array([e[1] for e in arrived], pa.int64()),
            "x": pa.array([e[2] for e in arrived], pa.int64()),
            "c": pa.array([e[3] for e in arrived], pa.string()),
            "arrival": pa.array(range(len(arrived)), pa.int64()),
        }
    )
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("arrived", table)
    events = "(SELECT *, timezone('UTC', make_timestamp(t_us)) AS event_timestamp FROM arrived)"

    rows = con.sql(backfill_sql(SPEC, events, "arrival")).fetchall()

    got = {(row[0], int(row[1].timestamp() * 1_000_000)): tuple(row[3:]) for row in rows}
    assert got == oracle(SPEC, arrived)
    assert all(row[1] == row[2] for row in rows)


def test_windows_include_their_end_and_exclude_their_start() -> None:
    spec = WindowSpec(
        "v", "k", timedelta(0), (Aggregation("n", "count", window=timedelta(microseconds=10)),)
    )
    expected = oracle(spec, [("a", 0, None, None), ("a", 10, None, None)])

    assert expected == {("a", 0): (1,), ("a", 10): (1,), ("a", 20): (0,)}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"aggregations": (Aggregation("a", "count", window=timedelta(0)),)}, "window"),
        ({"allowed_lateness": timedelta(seconds=-1)}, "lateness"),
        ({"aggregations": (Aggregation("a", "count"), Aggregation("a", "count"))}, "distinct"),
        ({"aggregations": (Aggregation("a", "median"),)}, "unknown function"),  # type: ignore[arg-type]
        ({"aggregations": (Aggregation("a", "sum"),)}, "needs an input"),
    ],
)
def test_inconsistent_specs_are_refused(kwargs: dict, message: str) -> None:
    arguments = {
        "view": "v",
        "key": "k",
        "allowed_lateness": timedelta(0),
        "aggregations": (Aggregation("n", "count"),),
        **kwargs,
    }
    with pytest.raises(AggregationSpecError, match=message):
        WindowSpec(**arguments)
