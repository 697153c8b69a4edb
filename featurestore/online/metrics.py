"""Prometheus metrics of online serving: latency, value statuses per view, serving log health.

Written out in the Prometheus text format by hand: importing parts of Feast switches
`prometheus_client` into multiprocess mode for the whole process, where every app would
share one set of values, and the hot path only needs a few integer additions.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from featurestore.online.client import OnlineFeatures, Status
from featurestore.online.plan import ReadPlan
from featurestore.online.serving_log import ServingLog

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Store time is sub-millisecond; the buckets resolve it and still catch slow tails.
_STATUSES = tuple((status, status.value) for status in Status)
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0)


@dataclass
class _Histogram:
    buckets: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    total: float = 0.0
    count: int = 0

    def observe(self, seconds: float) -> None:
        self.buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.total += seconds
        self.count += 1


class OnlineMetrics:
    """The counters and histogram one serving app exposes at `/metrics`.

    Updated and read from the event loop thread only, so no locks are needed.
    """

    def __init__(self, serving_log: ServingLog | None = None) -> None:
        self._latency: dict[str, _Histogram] = {}
        self._values: dict[tuple[str, str], int] = {}
        self._serving_log = serving_log

    def observe(self, plan: ReadPlan, result: OnlineFeatures, seconds: float) -> None:
        """Count one answered request's values per view and status, and its latency."""
        self._histogram("ok").observe(seconds)
        values = self._values
        for view in plan.views:
            for name in view.output_names:
                statuses = result.statuses[name]
                for status, label in _STATUSES:
                    count = statuses.count(status)
                    if count:
                        key = (view.name, label)
                        values[key] = values.get(key, 0) + count

    def observe_failure(self, outcome: str, seconds: float) -> None:
        """Latency of a request answered with an error (`outcome`: its HTTP status)."""
        self._histogram(outcome).observe(seconds)

    def exposition(self) -> str:
        """Everything in the Prometheus text format (version 0.0.4)."""
        name = "featurestore_online_request_seconds"
        lines = [
            f"# HELP {name} Time to answer an online features request, by outcome.",
            f"# TYPE {name} histogram",
        ]
        for outcome, histogram in sorted(self._latency.items()):
            cumulative = 0
            bounds = [*(repr(bound) for bound in LATENCY_BUCKETS), "+Inf"]
            for bound, count in zip(bounds, histogram.buckets, strict=True):
                cumulative += count
                lines.append(f'{name}_bucket{{outcome="{outcome}",le="{bound}"}} {cumulative}')
            lines.append(f'{name}_sum{{outcome="{outcome}"}} {histogram.total!r}')
            lines.append(f'{name}_count{{outcome="{outcome}"}} {histogram.count}')
        name = "featurestore_online_values_total"
        lines += [
            f"# HELP {name} Feature values served, by feature view and status.",
            f"# TYPE {name} counter",
        ]
        for (view, status), count in sorted(self._values.items()):
            lines.append(f'{name}{{view="{_escape(view)}",status="{status}"}} {count}')
        if self._serving_log is not None:
            lines += _serving_log_lines(self._serving_log)
        return "\n".join(lines) + "\n"

    def _histogram(self, outcome: str) -> _Histogram:
        histogram = self._latency.get(outcome)
        if histogram is None:
            histogram = self._latency[outcome] = _Histogram()
        return histogram


def _serving_log_lines(log: ServingLog) -> list[str]:
    lines = []
    for name, kind, help_text, value in (
        (
            "vectors_written_total",
            "counter",
            "Served vectors written to the log.",
            log.written_vectors,
        ),
        ("dropped_total", "counter", "Sampled requests dropped: the queue was full.", log.dropped),
        (
            "failed_writes_total",
            "counter",
            "Log files that could not be written.",
            log.failed_writes,
        ),
        ("queued", "gauge", "Sampled requests waiting to be written.", log.queued),
    ):
        full = f"featurestore_serving_log_{name}"
        lines += [f"# HELP {full} {help_text}", f"# TYPE {full} {kind}", f"{full} {value}"]
    return lines


def _escape(label: str) -> str:
    return label.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
