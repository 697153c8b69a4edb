"""The quality monitor: refreshes validation, row-level skew and online freshness figures and
exposes them as Prometheus gauges, for dashboards and alerts.

Gauges (one registry of their own, served by `prometheus_client`'s HTTP server):
- `featurestore_feature_skew{feature, metric}`: per `view:feature`, `replay_mismatch_rate` (the
  share of recently served values that differ from the point-in-time join, see
  `quality.replay`), and for the features of the training sets it watches, each distribution
  figure of `featurestore skew --training-set` (`psi`, `js`, `ks`, `linf`, `null_rate_diff`,
  `out_of_range`);
- `featurestore_validation_failures{view, rule}`: rows breaking each failed rule of a view's
  source (a view that passes has one series, `rule="none"`, at 0);
- `featurestore_online_freshness_seconds{view}`: median age of a sample of the view's online
  values; `featurestore_online_expired_share{view}`: the share of them older than the ttl;
- `featurestore_monitor_last_refresh_timestamp_seconds` and
  `featurestore_monitor_refresh_errors{part}` (parts that failed in the last refresh).

The values are built into one snapshot per refresh and yielded by a collector, so a scrape
never sees half a refresh.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from feast import FeatureStore
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from featurestore.errors import FeatureStoreError, ServiceError
from featurestore.online.connection import RedisClient

logger = logging.getLogger(__name__)

REPLAY_METRIC = "replay_mismatch_rate"
EXPORTED_METRICS = (
    "featurestore_feature_skew",
    "featurestore_validation_failures",
    "featurestore_online_freshness_seconds",
    "featurestore_online_expired_share",
    "featurestore_monitor_last_refresh_timestamp_seconds",
    "featurestore_monitor_refresh_errors",
)
"""Every metric name the monitor exports."""


@dataclass
class QualitySnapshot:
    """The figures of one refresh."""

    skew: dict[tuple[str, str], float] = field(default_factory=dict)
    validation_failures: dict[tuple[str, str], float] = field(default_factory=dict)
    freshness_seconds: dict[str, float] = field(default_factory=dict)
    expired_share: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    refreshed_at: float = 0.0


class QualityCollector(Collector):
    """Yields the latest snapshot as gauge families."""

    def __init__(self) -> None:
        self.snapshot = QualitySnapshot()

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot
        skew = GaugeMetricFamily(
            "featurestore_feature_skew",
            "Training-vs-serving skew of a feature, by metric.",
            labels=["feature", "metric"],
        )
        for (feature, metric), value in sorted(snap.skew.items()):
            skew.add_metric([feature, metric], value)
        yield skew
        failures = GaugeMetricFamily(
            "featurestore_validation_failures",
            "Rows of a view's source breaking a validation rule (rule none: all pass).",
            labels=["view", "rule"],
        )
        for (view, rule), value in sorted(snap.validation_failures.items()):
            failures.add_metric([view, rule], value)
        yield failures
        yield _per_view(
            "featurestore_online_freshness_seconds",
            "Median age of a sample of the view's online values, in seconds.",
            snap.freshness_seconds,
        )
        yield _per_view(
            "featurestore_online_expired_share",
            "Share of a sample of the view's online values older than its ttl.",
            snap.expired_share,
        )
        yield GaugeMetricFamily(
            "featurestore_monitor_last_refresh_timestamp_seconds",
            "When the monitor last refreshed its figures (Unix time).",
            value=snap.refreshed_at,
        )
        errors = GaugeMetricFamily(
            "featurestore_monitor_refresh_errors",
            "1 for each part of the last refresh that failed (its figures are missing).",
            labels=["part"],
        )
        for part in sorted(snap.errors):
            errors.add_metric([part], 1.0)
        yield errors


def _per_view(name: str, help_text: str, values: dict[str, float]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, help_text, labels=["view"])
    for view, value in sorted(values.items()):
        family.add_metric([view], value)
    return family


@dataclass
class QualityMonitor:
    """Computes a snapshot of one store's figures on demand (`refresh`)."""

    store: FeatureStore
    log_dir: Path
    """The serving log, `<data dir>/serving_log` (training sets are read beside it)."""
    redis_client: RedisClient | None = None
    replay_rows: int = 10_000
    """How many of the most recently served vectors each refresh replays."""
    training_sets: Sequence[str] = ()
    """Training sets (under the data dir) whose reference the serving log is compared with."""
    collector: QualityCollector = field(default_factory=QualityCollector)

    def refresh(self) -> QualitySnapshot:
        """Recompute every figure; a part that fails is logged and flagged, the rest kept."""
        snap = QualitySnapshot()
        parts: Sequence[tuple[str, Callable[[QualitySnapshot], None]]] = (
            ("validation", self._validation),
            ("replay", self._replay),
            ("distribution", self._distribution),
            ("freshness", self._freshness),
        )
        for part, compute in parts:
            try:
                compute(snap)
            except FeatureStoreError as exc:
                logger.warning("quality monitor: %s failed: %s", part, exc)
                snap.errors[part] = str(exc)
        snap.refreshed_at = time.time()
        self.collector.snapshot = snap
        return snap

    def registry(self) -> CollectorRegistry:
        """A registry holding only the monitor's gauges."""
        registry = CollectorRegistry()
        registry.register(self.collector)
        return registry

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Expose the gauges at http://host:port/metrics (a daemon thread)."""
        start_http_server(port, addr=host, registry=self.registry())

    def _validation(self, snap: QualitySnapshot) -> None:
        from featurestore.quality.gate import validate_store_views

        for validation in validate_store_views(self.store):
            failures = validation.failures
            if not failures:
                snap.validation_failures[(validation.view, "none")] = 0.0
            for result in failures:
                rule = result.rule if result.feature is None else f"{result.rule}:{result.feature}"
                snap.validation_failures[(validation.view, rule)] = float(result.count)

    def _replay(self, snap: QualitySnapshot) -> None:
        from featurestore.quality.replay import replay_serving_log

        report = replay_serving_log(self.store, self.log_dir, last=self.replay_rows, examples=0)
        for feature in report.features:
            if feature.compared:
                snap.skew[(feature.feature, REPLAY_METRIC)] = feature.mismatch_rate

    def _distribution(self, snap: QualitySnapshot) -> None:
        from featurestore.quality.skew import training_set_skew

        for name in self.training_sets:
            report = training_set_skew(self.store, self.log_dir.parent, name)
            for figure in report.features:
                if figure.value is not None:
                    snap.skew[(figure.feature, figure.metric)] = figure.value

    def _freshness(self, snap: QualitySnapshot) -> None:
        if self.redis_client is None:
            return
        from featurestore.catalog.freshness import online_freshness
        from featurestore.online.materialize import views_to_materialize

        now = datetime.now(UTC)
        for view in views_to_materialize(self.store, None):
            ttl = view.ttl.total_seconds() if view.ttl else None
            fresh = online_freshness(
                self.redis_client, self.store.project, view.name, view.join_keys, ttl, now=now
            )
            if fresh.error is not None:
                raise ServiceError(
                    f"Cannot sample online freshness of `{view.name}`: {fresh.error}"
                )
            if fresh.median_age_seconds is not None:
                snap.freshness_seconds[view.name] = fresh.median_age_seconds
            if fresh.expired_share is not None:
                snap.expired_share[view.name] = fresh.expired_share
