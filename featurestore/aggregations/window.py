"""The consumer's incremental side of a WindowSpec: per-key window state, evaluated by sliding.

Each key keeps its accepted events of the last `longest window + lateness`; rows are evaluated
from them at change points, one sliding pass per distinct window length."""

from __future__ import annotations

from bisect import insort
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from featurestore.aggregations.spec import WindowSpec

Values = tuple[int | float | str | None, ...]
"""One value per aggregation of the spec, in its order."""

Event = tuple[int, int, tuple[Any, ...]]
"""(event time in µs, arrival sequence, input values): sorted by time, then arrival."""


@dataclass(frozen=True)
class Row:
    """A key's aggregates at one change point (event time in µs since the epoch)."""

    key: str
    at_us: int
    values: Values


@dataclass
class KeyWindow:
    """The events of one key still needed, its watermark and how far its rows are final."""

    events: list[Event] = field(default_factory=list)
    watermark: int | None = None
    """Latest accepted event time (µs)."""
    final_until: int | None = None
    """Every change point at or before this time (µs) has been emitted as final."""

    def to_json(self) -> dict[str, Any]:
        return {"events": self.events, "watermark": self.watermark, "final": self.final_until}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> KeyWindow:
        events = [(int(t), int(seq), tuple(values)) for t, seq, values in data["events"]]
        return cls(events=events, watermark=data["watermark"], final_until=data["final"])


class WindowState:
    """All keys' windows for one spec (one Kafka partition's worth of keys)."""

    def __init__(self, spec: WindowSpec) -> None:
        self.spec = spec
        self.keys: dict[str, KeyWindow] = {}
        self._touched: set[str] = set()

    def add(self, key: str, at_us: int, seq: int, inputs: tuple[Any, ...]) -> int | None:
        """Apply one event; returns None if accepted, else the watermark it was too late for."""
        window = self.keys.get(key)
        if window is None:
            window = self.keys[key] = KeyWindow()
        watermark = window.watermark
        if watermark is not None and at_us <= watermark - self.spec.lateness_us:
            return watermark
        event = (at_us, seq, inputs)
        events = window.events
        if not events or events[-1] <= event:
            events.append(event)
        else:
            insort(events, event)
        if watermark is None or at_us > watermark:
            window.watermark = at_us
        self._touched.add(key)
        return None

    def advance(self) -> tuple[list[Row], list[Row]]:
        """Rows that became final since the last call, and each touched key's value now."""
        final: list[Row] = []
        current: list[Row] = []
        spec = self.spec
        for key in sorted(self._touched):
            window = self.keys[key]
            assert window.watermark is not None
            until = window.watermark - spec.lateness_us
            points = change_points(window.events, spec.windows_us, window.final_until, until)
            points.append(window.watermark)
            values = evaluate(spec, window.events, points)
            final.extend(Row(key, at, v) for at, v in zip(points[:-1], values[:-1], strict=True))
            current.append(Row(key, window.watermark, values[-1]))
            if window.final_until is None or until > window.final_until:
                window.final_until = until
                horizon = until - spec.longest_window_us
                keep = next((i for i, e in enumerate(window.events) if e[0] > horizon), None)
                window.events = [] if keep is None else window.events[keep:]
        self._touched.clear()
        return final, current

    def snapshot(self) -> dict[str, Any]:
        return {key: window.to_json() for key, window in self.keys.items()}

    def restore(self, snapshot: dict[str, Any]) -> None:
        self.keys = {key: KeyWindow.from_json(data) for key, data in snapshot.items()}
        self._touched.clear()


def change_points(
    events: Sequence[Event], windows_us: Sequence[int], after: int | None, until: int
) -> list[int]:
    """Sorted distinct event and expiry times in `(after, until]` of time-sorted events."""
    low = -(1 << 62) if after is None else after
    times = {t for t, _, _ in events if low < t <= until}
    for window_us in windows_us:
        times |= {t + window_us for t, _, _ in events if low < t + window_us <= until}
    return sorted(times)


def evaluate(spec: WindowSpec, events: Sequence[Event], points: Sequence[int]) -> list[Values]:
    """Every aggregation at each increasing point `c`, each over its own window `(c - W, c]`."""
    outputs: list[list[int | float | str | None]] = [
        [None] * len(spec.aggregations) for _ in points
    ]
    for window_us in spec.windows_us:
        positions = [n for n, a in enumerate(spec.aggregations) if a.window_us == window_us]
        plan = [
            (
                spec.aggregations[n].function,
                -1
                if not spec.aggregations[n].column
                else spec.inputs.index(spec.aggregations[n].column),
            )
            for n in positions
        ]
        for row, values in zip(outputs, _slide(plan, window_us, events, points), strict=True):
            for n, value in zip(positions, values, strict=True):
                row[n] = value
    return [tuple(row) for row in outputs]


def _slide(
    plan: Sequence[tuple[str, int]],
    window_us: int,
    events: Sequence[Event],
    points: Iterable[int],
) -> list[list[int | float | str | None]]:
    """The plan's aggregates over `(c - W, c]` at each increasing point, sliding over events."""
    used = sorted({i for _, i in plan if i >= 0})
    n_inputs = 1 + max(used, default=-1)

    def wanted(*functions: str) -> list[bool]:
        flags = [False] * n_inputs
        for function, i in plan:
            if function in functions:
                flags[i] = True
        return flags

    keep_min, keep_max, keep_last = wanted("min"), wanted("max"), wanted("last")
    keep_distinct, keep_sum = wanted("count_distinct"), wanted("sum", "mean")
    counts = [0] * n_inputs
    sums = [0] * n_inputs
    lows: list[deque[int]] = [deque() for _ in range(n_inputs)]
    highs: list[deque[int]] = [deque() for _ in range(n_inputs)]
    distinct: list[dict[Any, int]] = [{} for _ in range(n_inputs)]
    lasts = [-1] * n_inputs
    lo = hi = 0
    n = len(events)
    results: list[list[int | float | str | None]] = []
    for point in points:
        while hi < n and events[hi][0] <= point:
            inputs = events[hi][2]
            for i in used:
                value = inputs[i]
                if value is None:
                    continue
                counts[i] += 1
                if keep_sum[i]:
                    sums[i] += value
                if keep_last[i]:
                    lasts[i] = hi
                if keep_distinct[i]:
                    distinct[i][value] = distinct[i].get(value, 0) + 1
                if keep_min[i]:
                    low = lows[i]
                    while low and events[low[-1]][2][i] >= value:
                        low.pop()
                    low.append(hi)
                if keep_max[i]:
                    high = highs[i]
                    while high and events[high[-1]][2][i] <= value:
                        high.pop()
                    high.append(hi)
            hi += 1
        horizon = point - window_us
        while lo < hi and events[lo][0] <= horizon:
            inputs = events[lo][2]
            for i in used:
                value = inputs[i]
                if value is None:
                    continue
                counts[i] -= 1
                if keep_sum[i]:
                    sums[i] -= value
                if keep_distinct[i]:
                    left = distinct[i][value] - 1
                    if left:
                        distinct[i][value] = left
                    else:
                        del distinct[i][value]
                if keep_min[i] and lows[i][0] == lo:
                    lows[i].popleft()
                if keep_max[i] and highs[i][0] == lo:
                    highs[i].popleft()
            lo += 1
        row: list[int | float | str | None] = []
        for function, i in plan:
            if function == "count":
                row.append(hi - lo if i < 0 else counts[i])
            elif function == "count_distinct":
                row.append(len(distinct[i]))
            elif counts[i] == 0:
                row.append(None)
            elif function == "sum":
                row.append(sums[i])
            elif function == "mean":
                row.append(sums[i] / counts[i])
            elif function == "min":
                row.append(events[lows[i][0]][2][i])
            elif function == "max":
                row.append(events[highs[i][0]][2][i])
            else:
                row.append(events[lasts[i]][2][i])
        results.append(row)
    return results
