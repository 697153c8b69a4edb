"""Time-based train/validation/test splits that cannot leak the future.

Rows before the first cut train, rows from it to the second cut validate, the rest test.

With a group key (a customer, a device), no group spans two splits:
- with fractions, whole groups are assigned in time order (by their first row) until each
  split holds its share of the rows, so the row fractions land close to the request even when
  every group spans the whole period (a per-entity spine); split time ranges may then overlap,
  but groups that appear earlier always train, and nothing is purged;
- with two cut timestamps, the cuts are exact: a group lives in the split of its last row and
  its rows in earlier splits, which would leak across a cut, are purged.
The achieved fractions are reported; a warning says when they are more than 5 points off the
request or when more than 10% of the spine was purged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from featurestore.errors import TerminalError

SPLIT_NAMES = ("train", "validation", "test")
FRACTION_TOLERANCE = 0.05
"""Achieved fractions further than this from the requested ones draw a warning."""
PURGE_TOLERANCE = 0.10
"""A purged share of the spine above this draws a warning."""


class SplitError(TerminalError):
    """A split specification that cannot be applied."""


@dataclass(frozen=True)
class SplitSpec:
    """Either fractions of rows in time order, or two cut timestamps."""

    fractions: tuple[float, float, float] | None = None
    cuts: tuple[datetime, datetime] | None = None

    def __post_init__(self) -> None:
        if (self.fractions is None) == (self.cuts is None):
            raise SplitError("Give either split fractions or two cut timestamps, not both.")
        if self.fractions is not None:
            if len(self.fractions) != 3 or any(f < 0 for f in self.fractions):
                raise SplitError(
                    f"Split fractions `{self.fractions}` must be three non-negative numbers."
                )
            if abs(sum(self.fractions) - 1.0) > 1e-9:
                raise SplitError(
                    f"Split fractions `{self.fractions}` add up to {sum(self.fractions):g}, not 1."
                )
        if self.cuts is not None:
            first, second = self.cuts
            if first.tzinfo is None or second.tzinfo is None:
                raise SplitError(f"Cut timestamps `{self.cuts}` must carry a time zone (use UTC).")
            if first > second:
                raise SplitError(f"Cut `{first.isoformat()}` is after `{second.isoformat()}`.")

    @classmethod
    def parse(cls, text: str) -> SplitSpec:
        """`0.7,0.15,0.15` (fractions) or `2013-10-01,2013-12-01` (UTC cut timestamps)."""
        parts = [part.strip() for part in text.split(",") if part.strip()]
        try:
            if len(parts) == 3:
                a, b, c = (float(part) for part in parts)
                return cls(fractions=(a, b, c))
            if len(parts) == 2:
                first, second = (_utc(datetime.fromisoformat(part)) for part in parts)
                return cls(cuts=(first, second))
        except ValueError:
            pass
        raise SplitError(
            f"Split `{text}` is neither three fractions (`0.7,0.15,0.15`) nor two cut "
            "timestamps (`2013-10-01,2013-12-01`)."
        )


@dataclass(frozen=True)
class SplitAssignment:
    """Which split each row goes to (-1 = purged), the cuts used and what was purged."""

    split_of_row: np.ndarray
    cuts: tuple[datetime, datetime]
    purged_rows: int
    fractions: dict[str, float]
    """Achieved share of the spine's rows per split (purged rows count in no split)."""
    warnings: tuple[str, ...] = ()


def assign_splits(
    times: pa.ChunkedArray | pa.Array, spec: SplitSpec, groups: Sequence[object] | None = None
) -> SplitAssignment:
    """Assign each row by its time (and group); rows must be in time order with fractions."""
    micros = _micros(times)
    if groups is not None and spec.fractions is not None:
        split, cuts = _assign_groups(micros, groups, spec.fractions)
        purged = 0
    else:
        cuts = spec.cuts if spec.cuts is not None else _cuts_from_fractions(micros, spec)
        cut_micros = [_to_micros(cut) for cut in cuts]
        split = np.searchsorted(np.asarray(cut_micros), micros, side="right").astype(np.int8)
        purged = 0
        if groups is not None:
            split, purged = _purge_groups(split, groups)
    fractions = _achieved(split)
    return SplitAssignment(
        split_of_row=split,
        cuts=cuts,
        purged_rows=purged,
        fractions=fractions,
        warnings=_warnings(spec, fractions, purged, len(split)),
    )


def _assign_groups(
    micros: np.ndarray, groups: Sequence[object], fractions: tuple[float, float, float]
) -> tuple[np.ndarray, tuple[datetime, datetime]]:
    """Whole groups, ordered by their first row, fill train then validation then test; each
    boundary falls between the groups whose cumulative row count is nearest the target."""
    if len(micros) == 0:
        raise SplitError("The entity spine has no rows to split.")
    index: dict[object, int] = {}
    group_of_row = np.fromiter(
        (index.setdefault(g, len(index)) for g in groups), dtype=np.int64, count=len(micros)
    )
    counts = np.bincount(group_of_row)
    first_time = np.full(len(counts), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_time, group_of_row, micros)
    # Ties on the first time go to the group met first in the (time-sorted, stable) spine.
    order = np.lexsort((np.arange(len(counts)), first_time))
    cumulative = np.concatenate(([0], np.cumsum(counts[order])))
    total = cumulative[-1]
    first = int(np.argmin(np.abs(cumulative - fractions[0] * total)))
    tail = cumulative[first:]
    second = first + int(np.argmin(np.abs(tail - (fractions[0] + fractions[1]) * total)))
    split_of_group = np.empty(len(counts), dtype=np.int8)
    split_of_group[order[:first]] = 0
    split_of_group[order[first:second]] = 1
    split_of_group[order[second:]] = 2
    latest = int(micros.max())
    cut_a = int(first_time[order[first]]) if first < len(order) else latest
    cut_b = int(first_time[order[second]]) if second < len(order) else latest
    return split_of_group[group_of_row], (_from_micros(cut_a), _from_micros(cut_b))


def _achieved(split: np.ndarray) -> dict[str, float]:
    total = len(split)
    return {
        name: (int((split == index).sum()) / total if total else 0.0)
        for index, name in enumerate(SPLIT_NAMES)
    }


def _warnings(
    spec: SplitSpec, fractions: dict[str, float], purged: int, total: int
) -> tuple[str, ...]:
    warnings = []
    if spec.fractions is not None:
        off = {
            name: (achieved, wanted)
            for (name, achieved), wanted in zip(fractions.items(), spec.fractions, strict=True)
            if abs(achieved - wanted) > FRACTION_TOLERANCE
        }
        if off:
            detail = ", ".join(f"{n} {a:.1%} (asked {w:.0%})" for n, (a, w) in off.items())
            warnings.append(
                f"The split is more than {FRACTION_TOLERANCE:.0%} off the requested fractions: "
                f"{detail}; a few large groups or many equal timestamps cause this."
            )
    if total and purged / total > PURGE_TOLERANCE:
        warnings.append(
            f"{purged:,} of {total:,} spine rows ({purged / total:.1%}) were purged because "
            "their group continues past a cut; split by fractions to keep whole groups instead."
        )
    return tuple(warnings)


def _cuts_from_fractions(micros: np.ndarray, spec: SplitSpec) -> tuple[datetime, datetime]:
    assert spec.fractions is not None
    if len(micros) == 0:
        raise SplitError("The entity spine has no rows to split.")
    ordered = np.sort(micros)
    train, validation, _ = spec.fractions
    # A cut is the time of the first row past the share; rows at that time all go later,
    # so equal timestamps never straddle two splits.
    first = ordered[min(round(train * len(ordered)), len(ordered) - 1)]
    second_index = min(round((train + validation) * len(ordered)), len(ordered) - 1)
    second = max(ordered[second_index], first)
    return _from_micros(int(first)), _from_micros(int(second))


def _purge_groups(split: np.ndarray, groups: Sequence[object]) -> tuple[np.ndarray, int]:
    """Every group goes to the split of its last row; its rows in earlier splits are purged."""
    last_split: dict[object, int] = {}
    for group, value in zip(groups, split.tolist(), strict=True):
        if value > last_split.get(group, -1):
            last_split[group] = value
    target = np.fromiter((last_split[g] for g in groups), dtype=np.int8, count=len(split))
    result = np.where(split == target, split, np.int8(-1))
    return result, int((result == -1).sum())


def _micros(times: pa.ChunkedArray | pa.Array) -> np.ndarray:
    if not pa.types.is_timestamp(times.type):
        raise SplitError(f"The event time column has type `{times.type}`; it must be a timestamp.")
    if times.null_count:
        raise SplitError(
            f"The event time column has {times.null_count} null(s); drop those rows first."
        )
    as_micros = pc.cast(times, pa.timestamp("us", tz=times.type.tz)).cast(pa.int64())
    return np.asarray(as_micros.to_numpy(zero_copy_only=False), dtype=np.int64)


def _to_micros(moment: datetime) -> int:
    delta = _utc(moment) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _from_micros(micros: int) -> datetime:
    return datetime.fromtimestamp(micros // 1_000_000, tz=UTC).replace(
        microsecond=micros % 1_000_000
    )


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
