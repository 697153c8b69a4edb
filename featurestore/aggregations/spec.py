"""Windowed aggregation specs: defined once, computed by the batch backfill and the consumer.

Semantics (identical in batch and stream), for a key `k`, window `W` and allowed lateness `L`:
- The value at time `t` aggregates the accepted events of `k` with event time in `(t - W, t]`.
- Rows exist at every *change point*: each event time `e` and each expiry time `e + W`, so the
  step function the rows describe equals the sliding window at every instant (no stale values).
- An event is accepted unless its time is `<= watermark - L`, where the watermark is the latest
  event time of `k` seen before it (in arrival order); accepted late events count at their event
  time. A change point `c` is final once `c <= watermark - L`: nothing accepted later can change it.
- Empty window: `count` is 0, every other function is null. `sum` and `mean` take integer
  inputs and are exact (a mean is one correctly rounded division of integers).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from featurestore.errors import TerminalError

Function = Literal["count", "sum", "mean", "min", "max", "last"]
FUNCTIONS: tuple[Function, ...] = ("count", "sum", "mean", "min", "max", "last")
_MICROS = timedelta(microseconds=1)


class AggregationSpecError(TerminalError):
    """An aggregation spec is inconsistent (unknown function, bad window, duplicate names)."""


@dataclass(frozen=True)
class Indicator:
    """1 when `column` > `above`, 0 when not, null when the column is null (e.g. delayed > 15)."""

    column: str
    above: int


Input = str | Indicator
"""An aggregated input: an event field by name, or an indicator over one."""


@dataclass(frozen=True)
class Aggregation:
    """One output feature: `function` over `input` (no input: `count` counts events)."""

    name: str
    function: Function
    input: Input | None = None

    @property
    def output_type(self) -> Literal["int64", "float64"]:
        """Arrow type name of the output: means are doubles, everything else stays integral."""
        return "float64" if self.function == "mean" else "int64"


@dataclass(frozen=True)
class WindowSpec:
    """Sliding-window aggregations of one entity key over event time."""

    view: str
    """The stream feature view the rows fill (also the offline log's name)."""
    key: str
    """Join key of the entity; events are keyed (and partitioned) by it."""
    window: timedelta
    allowed_lateness: timedelta
    aggregations: tuple[Aggregation, ...]
    timestamp_field: str = "event_timestamp"
    created_timestamp_field: str = "created_timestamp"
    inputs: tuple[Input, ...] = field(init=False)
    """The distinct inputs, in first-use order; events carry one value per input."""

    def __post_init__(self) -> None:
        if self.window <= timedelta(0) or self.window % _MICROS:
            raise AggregationSpecError(
                f"Spec `{self.view}`: window `{self.window}` must be a positive whole number of µs."
            )
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
            if aggregation.input is None and aggregation.function != "count":
                raise AggregationSpecError(
                    f"Spec `{self.view}`: `{aggregation.name}` ({aggregation.function}) needs an "
                    "input column; only `count` may count events."
                )
        inputs = (a.input for a in self.aggregations if a.input is not None)
        object.__setattr__(self, "inputs", tuple(dict.fromkeys(inputs)))

    @property
    def window_us(self) -> int:
        return self.window // _MICROS

    @property
    def lateness_us(self) -> int:
        return self.allowed_lateness // _MICROS

    @property
    def fields(self) -> tuple[str, ...]:
        """The event fields the spec reads: the key, the timestamp and every input's column."""
        columns = (i if isinstance(i, str) else i.column for i in self.inputs)
        return tuple(dict.fromkeys((self.key, self.timestamp_field, *columns)))

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(aggregation.name for aggregation in self.aggregations)

    def input_values(self, event: Mapping[str, Any]) -> tuple[int | None, ...]:
        """The value of each input for one decoded event (fields already type-checked)."""
        values: list[int | None] = []
        for spec_input in self.inputs:
            if isinstance(spec_input, str):
                values.append(event.get(spec_input))
            else:
                raw = event.get(spec_input.column)
                values.append(None if raw is None else int(raw > spec_input.above))
        return tuple(values)
