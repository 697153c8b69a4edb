"""Windowed aggregation specs: read from a `StreamFeatureView`, computed by the batch backfill and
the consumer alike.

Semantics (identical in batch and stream), for a key `k`, an aggregation over window `W` and the
view's allowed lateness `L` (its source's `watermark_delay_threshold`):
- The value at time `t` aggregates the accepted events of `k` with event time in `(t - W, t]`.
- Rows exist at every *change point*: each event time `e` and each expiry time `e + W` of every
  window of the view, so the step function the rows describe equals every sliding window at every
  instant (no stale values). A row carries all the view's features at that instant.
- An event is accepted unless its time is `<= watermark - L`, where the watermark is the latest
  event time of `k` seen before it (in arrival order); accepted late events count at their event
  time. A change point `c` is final once `c <= watermark - L`: nothing accepted later can change it.
- Empty window: `count` and `count_distinct` are 0, every other function is null. Nulls are
  skipped by every function; `count` over no column (`column=""`) counts events.
- `sum` and `mean` take integer columns and are exact (a mean is one correctly rounded division
  of integers); `min`, `max` and `last` keep the column's type; `last` is the latest non-null
  value by (event time, arrival order).
- `count_distinct` is exact: the consumer already keeps each key's events of the longest window
  plus the lateness, and counts distinct values among them. Its state therefore grows with the
  events per key in that span, like every other function here, not with the distinct values ever
  seen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from featurestore.errors import TerminalError

Function = Literal["count", "sum", "mean", "min", "max", "count_distinct", "last"]
FUNCTIONS: tuple[Function, ...] = ("count", "sum", "mean", "min", "max", "count_distinct", "last")
ColumnType = Literal["int", "float", "string", "bool", "timestamp"]
OutputType = Literal["int64", "float64", "string"]
_MICROS = timedelta(microseconds=1)


class AggregationSpecError(TerminalError):
    """An aggregation declaration is inconsistent (unknown function, bad window, bad column)."""


@dataclass(frozen=True)
class Aggregation:
    """One output feature: `function` over `column` in a sliding window of `window`."""

    name: str
    function: Function
    column: str = ""
    """The event field aggregated; empty only for `count`, which then counts events."""
    window: timedelta = timedelta(hours=1)
    column_type: ColumnType = "int"
    """The field's type in the source schema (decides min/max/last output types)."""

    @property
    def window_us(self) -> int:
        return self.window // _MICROS

    @property
    def output_type(self) -> OutputType:
        """Arrow type name of the output."""
        if self.function in ("count", "count_distinct"):
            return "int64"
        if self.function == "mean" or self.column_type == "float":
            return "float64"
        if self.column_type == "string":
            return "string"
        return "int64"


@dataclass(frozen=True)
class WindowSpec:
    """Sliding-window aggregations of one entity key over event time (one stream view)."""

    view: str
    """The stream feature view the rows fill (also the offline log's name)."""
    key: str
    """Join key of the entity; state is kept per value of it."""
    allowed_lateness: timedelta
    aggregations: tuple[Aggregation, ...]
    timestamp_field: str = "event_timestamp"
    created_timestamp_field: str = "created_timestamp"
    inputs: tuple[str, ...] = field(init=False)
    """The distinct aggregated columns, in first-use order; events carry one value per input."""

    def __post_init__(self) -> None:
        if self.allowed_lateness < timedelta(0) or self.allowed_lateness % _MICROS:
            raise AggregationSpecError(
                f"Spec `{self.view}`: allowed lateness `{self.allowed_lateness}` must be >= 0 µs."
            )
        names = [aggregation.name for aggregation in self.aggregations]
        if not names or len(set(names)) != len(names):
            raise AggregationSpecError(
                f"Spec `{self.view}`: aggregation names {names} must be non-empty and distinct."
            )
        for aggregation in self.aggregations:
            if aggregation.function not in FUNCTIONS:
                raise AggregationSpecError(
                    f"Spec `{self.view}`: `{aggregation.name}` uses unknown function "
                    f"`{aggregation.function}`; use one of {', '.join(FUNCTIONS)}."
                )
            if not aggregation.column and aggregation.function != "count":
                raise AggregationSpecError(
                    f"Spec `{self.view}`: `{aggregation.name}` ({aggregation.function}) needs an "
                    "input column; only `count` may count events."
                )
            if aggregation.window <= timedelta(0) or aggregation.window % _MICROS:
                raise AggregationSpecError(
                    f"Spec `{self.view}`: `{aggregation.name}` window `{aggregation.window}` must "
                    "be a positive whole number of µs."
                )
        inputs = (a.column for a in self.aggregations if a.column)
        object.__setattr__(self, "inputs", tuple(dict.fromkeys(inputs)))

    @property
    def windows_us(self) -> tuple[int, ...]:
        """The distinct window lengths (µs), shortest first."""
        return tuple(sorted({a.window_us for a in self.aggregations}))

    @property
    def longest_window_us(self) -> int:
        return max(a.window_us for a in self.aggregations)

    @property
    def lateness_us(self) -> int:
        return self.allowed_lateness // _MICROS

    @property
    def fields(self) -> tuple[str, ...]:
        """The event fields the spec reads: the key, the timestamp and every input column."""
        return tuple(dict.fromkeys((self.key, self.timestamp_field, *self.inputs)))

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(aggregation.name for aggregation in self.aggregations)

    def input_values(self, event: Mapping[str, Any]) -> tuple[Any, ...]:
        """The value of each input column for one decoded event (fields already type-checked)."""
        return tuple(event.get(column) for column in self.inputs)
