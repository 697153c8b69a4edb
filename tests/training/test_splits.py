"""Time splits: ordered, non-overlapping, groups whole, against a brute-force oracle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from featurestore.training.splits import SplitError, SplitSpec, assign_splits

BASE = datetime(2024, 1, 1, tzinfo=UTC)


def times(minutes: list[int]) -> pa.Array:
    return pa.array([BASE + timedelta(minutes=m) for m in minutes], pa.timestamp("us", tz="UTC"))


def test_cut_timestamps_split_by_time() -> None:
    spec = SplitSpec(cuts=(BASE + timedelta(minutes=10), BASE + timedelta(minutes=20)))

    assignment = assign_splits(times([0, 9, 10, 15, 20, 30]), spec)

    assert assignment.split_of_row.tolist() == [0, 0, 1, 1, 2, 2]
    assert assignment.purged_rows == 0


def test_fractions_never_split_equal_timestamps() -> None:
    spec = SplitSpec(fractions=(0.5, 0.25, 0.25))

    assignment = assign_splits(times([1, 2, 3, 3, 3, 3, 4, 5]), spec)

    assert assignment.split_of_row.tolist() == [0, 0, 1, 1, 1, 1, 2, 2]


def test_group_lives_in_the_split_of_its_last_row_earlier_rows_purged() -> None:
    spec = SplitSpec(cuts=(BASE + timedelta(minutes=10), BASE + timedelta(minutes=20)))

    assignment = assign_splits(times([0, 5, 12, 25, 1]), spec, groups=["a", "b", "a", "a", "c"])

    assert assignment.split_of_row.tolist() == [-1, 0, -1, 2, 0]
    assert assignment.purged_rows == 2


@pytest.mark.parametrize(
    "text",
    ["0.7,0.2", "0.5,0.5,0.5", "a,b,c", "2024-02-01,2024-01-01", "-0.1,0.6,0.5"],
)
def test_bad_split_specs_are_refused_with_the_value(text: str) -> None:
    with pytest.raises(SplitError, match="`"):
        SplitSpec.parse(text)


def test_parse_reads_fractions_and_utc_cuts() -> None:
    assert SplitSpec.parse("0.8, 0.1, 0.1") == SplitSpec(fractions=(0.8, 0.1, 0.1))
    assert SplitSpec.parse("2024-01-01,2024-02-01T12:00:00+01:00") == SplitSpec(
        cuts=(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 1, 11, tzinfo=UTC))
    )


def test_null_event_times_are_refused() -> None:
    with pytest.raises(SplitError, match="null"):
        assign_splits(pa.array([None], pa.timestamp("us", tz="UTC")), SplitSpec.parse("1,0,0"))


@settings(max_examples=500, deadline=None)
@given(
    minutes=st.lists(st.integers(0, 50), min_size=1, max_size=60),
    groups=st.one_of(st.none(), st.lists(st.sampled_from("abcde"), min_size=60, max_size=60)),
    cut_a=st.integers(-5, 55),
    cut_b=st.integers(-5, 55),
)
def test_splits_match_the_oracle_and_never_overlap(
    minutes: list[int], groups: list[str] | None, cut_a: int, cut_b: int
) -> None:
    low, high = sorted((cut_a, cut_b))
    spec = SplitSpec(cuts=(BASE + timedelta(minutes=low), BASE + timedelta(minutes=high)))
    row_groups = groups[: len(minutes)] if groups is not None else None

    split = assign_splits(times(minutes), spec, row_groups).split_of_row.tolist()

    expected = [0 if m < low else 1 if m < high else 2 for m in minutes]
    if row_groups is not None:
        last = {
            g: max(e for e, h in zip(expected, row_groups, strict=True) if h == g)
            for g in row_groups
        }
        expected = [e if e == last[g] else -1 for e, g in zip(expected, row_groups, strict=True)]
    assert split == expected
    kept = [(s, m) for s, m in zip(split, minutes, strict=True) if s >= 0]
    for a, time_a in kept:
        for b, time_b in kept:
            if a < b:
                assert time_a < time_b
    if row_groups is not None:
        homes = {(g, s) for g, s in zip(row_groups, split, strict=True) if s >= 0}
        assert len(homes) == len({g for g, _ in homes})


def test_fraction_shares_are_close_on_distinct_times() -> None:
    spec = SplitSpec(fractions=(0.7, 0.2, 0.1))

    split = assign_splits(times(list(range(1000))), spec).split_of_row

    assert np.bincount(split).tolist() == [700, 200, 100]
