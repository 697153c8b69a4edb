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


def test_with_cuts_a_group_lives_in_the_split_of_its_last_row_earlier_rows_purged() -> None:
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


def test_with_fractions_whole_groups_fill_the_splits_in_time_order() -> None:
    # Every group spans the whole period, as on a per-customer spine: purging by time would
    # drop most rows; whole groups by first appearance keep them all.
    minutes = [m for m in range(10) for _ in range(10)]
    groups = [f"g{g}" for _ in range(10) for g in range(10)]

    assignment = assign_splits(times(minutes), SplitSpec(fractions=(0.7, 0.2, 0.1)), groups)

    homes = dict(zip(groups, assignment.split_of_row.tolist(), strict=True))
    assert [homes[f"g{g}"] for g in range(10)] == [0] * 7 + [1] * 2 + [2]
    assert assignment.purged_rows == 0
    assert assignment.fractions == {"train": 0.7, "validation": 0.2, "test": 0.1}
    assert assignment.warnings == ()


def test_a_split_far_from_the_request_is_reported() -> None:
    groups = ["big"] * 90 + ["small"] * 10

    assignment = assign_splits(
        times(list(range(100))), SplitSpec(fractions=(0.5, 0.25, 0.25)), groups
    )

    assert assignment.fractions["train"] == 0.9
    assert len(assignment.warnings) == 1
    assert "train 90.0% (asked 50%)" in assignment.warnings[0]


def test_purging_more_than_a_tenth_of_the_spine_is_reported() -> None:
    spec = SplitSpec(cuts=(BASE + timedelta(minutes=10), BASE + timedelta(minutes=20)))

    assignment = assign_splits(times([0, 5, 12, 25]), spec, groups=["a", "a", "a", "a"])

    assert assignment.purged_rows == 3
    assert any("3 of 4 spine rows (75.0%) were purged" in w for w in assignment.warnings)


@st.composite
def per_entity_spines(draw: st.DrawFn) -> list[tuple[int, int]]:
    """Many entities (customers), each with a few rows anywhere in time: the usual spine.
    No entity holds more than 4% of the rows, so whole groups can land within 5 points."""
    counts = draw(st.lists(st.integers(1, 4), min_size=100, max_size=200))
    groups = [group for group, count in enumerate(counts) for _ in range(count)]
    minutes = draw(st.lists(st.integers(0, 10_000), min_size=len(groups), max_size=len(groups)))
    return sorted(zip(minutes, groups, strict=True))


@settings(max_examples=100, deadline=None)
@given(spine=per_entity_spines(), train=st.integers(40, 70), validation=st.integers(5, 25))
def test_group_fractions_land_within_five_points_on_per_entity_spines(
    spine: list[tuple[int, int]], train: int, validation: int
) -> None:
    minutes, groups = [m for m, _ in spine], [g for _, g in spine]
    wanted = (train / 100, validation / 100, (100 - train - validation) / 100)

    assignment = assign_splits(times(minutes), SplitSpec(fractions=wanted), groups)

    split = assignment.split_of_row.tolist()
    # Oracle: each group's rows all in one split, nothing purged, shares counted by brute force.
    homes: dict[int, set[int]] = {}
    for group, home in zip(groups, split, strict=True):
        homes.setdefault(group, set()).add(home)
    assert all(len(h) == 1 for h in homes.values())
    assert -1 not in split
    for index, (name, share) in enumerate(assignment.fractions.items()):
        counted = sum(1 for s in split if s == index) / len(split)
        assert share == pytest.approx(counted)
        assert abs(counted - wanted[index]) <= 0.05, name
    # Groups that appear earlier never land in a later split than groups that appear later.
    first_seen = {g: m for m, g in reversed(list(zip(minutes, groups, strict=True)))}
    order = sorted(homes, key=lambda g: first_seen[g])
    assert [min(homes[g]) for g in order] == sorted(min(homes[g]) for g in order)
    assert assignment.warnings == ()
