"""Prometheus metrics of the consumer: throughput, dead letters, lag and event-to-online latency."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0)


class StreamMetrics:
    """The consumer's metrics in their own registry; `serve(port)` exposes them over HTTP."""

    def __init__(self, registry: CollectorRegistry | None = None, *, keep_latencies: bool = False):
        self.registry = registry or CollectorRegistry()
        self.consumed = Counter(
            "featurestore_stream_events_consumed",
            "Events read from Kafka.",
            ["topic"],
            registry=self.registry,
        )
        self.written = Counter(
            "featurestore_stream_events_written",
            "Accepted events whose window updates reached Redis.",
            ["topic"],
            registry=self.registry,
        )
        self.dead_lettered = Counter(
            "featurestore_stream_events_dead_lettered",
            "Events sent to the dead-letter topic, by kind of reason.",
            ["topic", "reason"],
            registry=self.registry,
        )
        self.retries = Counter(
            "featurestore_stream_retries",
            "Transient failures retried (nothing is committed meanwhile), by action.",
            ["action"],
            registry=self.registry,
        )
        self.lag = Gauge(
            "featurestore_stream_lag",
            "Messages behind the partition's high-water mark at the last fetch.",
            ["topic", "partition"],
            registry=self.registry,
        )
        self.latency = BatchHistogram(
            "featurestore_stream_event_to_online_seconds",
            "From an event's time (`event`) or Kafka append time (`append`) to its Redis write.",
            label="clock",
            label_values=("event", "append"),
        )
        self.registry.register(self.latency)
        self.keep_latencies = keep_latencies
        self.append_latencies: list[float] = []
        """Every append-to-online latency in seconds, when `keep_latencies` (benchmarks)."""

    def observe_written(
        self, topic: str, event_times_us: Iterable[int], append_times_ms: Iterable[int]
    ) -> None:
        """Record events that just reached Redis: count and both latencies."""
        now = time.time()
        events = np.fromiter(event_times_us, np.int64)
        appends = np.fromiter(append_times_ms, np.int64)
        append_latency = now - appends / 1e3
        self.latency.observe_many("event", now - events / 1e6)
        self.latency.observe_many("append", append_latency)
        if self.keep_latencies:
            self.append_latencies.extend(append_latency.tolist())
        self.written.labels(topic).inc(len(events))

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Expose `/metrics` on `host:port` from a daemon thread."""
        start_http_server(port, addr=host, registry=self.registry)


class BatchHistogram(Collector):
    """A labelled histogram observed a batch at a time with numpy.

    prometheus_client observes one value per call (and Feast's environment switches it to
    its slower multi-process storage); per-event latencies of a 5,000-event batch need one call.
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        *,
        label: str,
        label_values: Sequence[str],
        buckets: Sequence[float] = LATENCY_BUCKETS,
    ) -> None:
        self.name, self.documentation, self.label = name, documentation, label
        self.bounds = np.array(buckets, dtype=np.float64)
        self.counts = {value: np.zeros(len(buckets) + 1, dtype=np.int64) for value in label_values}
        self.sums = dict.fromkeys(label_values, 0.0)

    def observe_many(self, label_value: str, values: np.ndarray) -> None:
        """Add every value of `values` (seconds) to the histogram of `label_value`."""
        if len(values) == 0:
            return
        slots = np.searchsorted(self.bounds, values, side="left")
        self.counts[label_value] += np.bincount(slots, minlength=len(self.bounds) + 1)
        self.sums[label_value] += float(values.sum())

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=[self.label])
        for value, counts in self.counts.items():
            cumulative = np.cumsum(counts)
            buckets = [
                (f"{bound:g}", float(n)) for bound, n in zip(self.bounds, cumulative, strict=False)
            ]
            buckets.append(("+Inf", float(cumulative[-1])))
            family.add_metric([value], buckets, self.sums[value])
        yield family
