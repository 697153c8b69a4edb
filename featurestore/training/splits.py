"""Time-based train/validation/test splits that cannot leak the future.

Rows before the first cut train, rows from it to the second cut validate, the rest test.
With a group key, a group lives in the split of its last row and its earlier rows are purged,
so no group spans two splits and no split's time range overlaps another's.
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


def assign_splits(
    times: pa.ChunkedArray | pa.Array, spec: SplitSpec, groups: Sequence[object] | None = None
) -> SplitAssignment:
    """Assign each row by its time; rows must be in time order when fractions are used."""
    micros = _micros(times)
    cuts = spec.cuts if spec.cuts is not None else _cuts_from_fractions(micros, spec)
    cut_micros = [_to_micros(cut) for cut in cuts]
    split = np.searchsorted(np.asarray(cut_micros), micros, side="right").astype(np.int8)
    purged = 0
    if groups is not None:
        split, purged = _purge_groups(split, groups)
    return SplitAssignment(split_of_row=split, cuts=cuts, purged_rows=purged)


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
