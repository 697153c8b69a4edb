"""The committed Grafana dashboard: valid, provisioned by docker-compose, and every query names
only metrics that the serving API, the stream consumer or the quality monitor export."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from prometheus_client import CollectorRegistry, generate_latest

from featurestore.online.client import OnlineFeatures, Status
from featurestore.online.metrics import OnlineMetrics
from featurestore.online.plan import ReadPlan, ViewRead
from featurestore.online.serving_log import ServingLog
from featurestore.quality.monitor import QualityCollector, QualitySnapshot
from streaming.metrics import StreamMetrics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "featurestore.json"
_METRIC = re.compile(r"\bfeaturestore_[a-z0-9_]+")
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{| )", re.MULTILINE)


def _queries(dashboard: dict[str, Any]) -> list[str]:
    return [
        target["expr"]
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        if "expr" in target
    ]


def _online_samples(tmp_path: Path) -> set[str]:
    """Sample names of the serving API's /metrics after one answered and one failed request."""
    view = ViewRead("v", ("k",), (), b"", b"p", ("f",), ("f",), (b"",), None)
    plan = ReadPlan(("v:f",), (view,), ("f",), ("k",), None)
    metrics = OnlineMetrics(ServingLog(tmp_path, sample_rate=0.0))
    served = OnlineFeatures({"k": [1]}, {"f": [1.0]}, {"f": [Status.PRESENT]}, {"f": [None]})
    metrics.observe(plan, served, 0.001)
    metrics.observe_failure("404", 0.001)
    return set(_SAMPLE.findall(metrics.exposition()))


def _stream_samples() -> set[str]:
    metrics = StreamMetrics()
    metrics.consumed.labels("t").inc()
    metrics.dead_lettered.labels("t", "decode").inc()
    metrics.retries.labels("poll").inc()
    metrics.lag.labels("t", "0").set(3)
    metrics.observe_written("t", np.array([1_000_000]), np.array([1_000]))
    return set(_SAMPLE.findall(generate_latest(metrics.registry).decode()))


def _monitor_samples() -> set[str]:
    collector = QualityCollector()
    collector.snapshot = QualitySnapshot(
        skew={("v:f", "replay_mismatch_rate"): 0.5},
        validation_failures={("v", "above_max:f"): 3.0},
        freshness_seconds={"v": 60.0},
        expired_share={"v": 0.1},
        errors={"replay": "failed"},
        refreshed_at=1.0,
    )
    registry = CollectorRegistry()
    registry.register(collector)
    return set(_SAMPLE.findall(generate_latest(registry).decode()))


def test_dashboard_is_valid_and_covers_serving_streaming_and_quality() -> None:
    dashboard = json.loads(DASHBOARD.read_text())

    assert dashboard["uid"] and dashboard["title"]
    titles = [panel["title"] for panel in dashboard["panels"]]
    assert len(set(titles)) == len(titles)
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(titles)
    queried = {name for expr in _queries(dashboard) for name in _METRIC.findall(expr)}
    # online requests/s and latency, stream lag and event-to-online latency, skew per feature,
    # validation failures and freshness
    for wanted in (
        "featurestore_online_request_seconds_count",
        "featurestore_online_request_seconds_bucket",
        "featurestore_stream_lag",
        "featurestore_stream_event_to_online_seconds_bucket",
        "featurestore_feature_skew",
        "featurestore_validation_failures",
        "featurestore_online_freshness_seconds",
    ):
        assert wanted in queried


def test_dashboard_queries_name_only_exported_metrics(tmp_path: Path) -> None:
    exported = _online_samples(tmp_path) | _stream_samples() | _monitor_samples()
    dashboard = json.loads(DASHBOARD.read_text())

    queried = {name for expr in _queries(dashboard) for name in _METRIC.findall(expr)}

    assert queried
    assert queried - exported == set()


def test_docker_compose_provisions_prometheus_grafana_and_the_dashboard() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]

    grafana_mounts = {
        volume.split(":")[1]: ROOT / volume.split(":")[0]
        for volume in services["grafana"]["volumes"]
    }
    provisioning = grafana_mounts["/etc/grafana/provisioning"]
    providers = yaml.safe_load((provisioning / "dashboards" / "featurestore.yml").read_text())
    dashboards_path = providers["providers"][0]["options"]["path"]
    assert (grafana_mounts[dashboards_path] / DASHBOARD.name).resolve() == DASHBOARD.resolve()
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    uid = datasources["datasources"][0]["uid"]
    dashboard = json.loads(DASHBOARD.read_text())
    panels = [panel for panel in dashboard["panels"] if panel.get("targets")]
    assert {panel["datasource"]["uid"] for panel in panels} == {uid}

    prometheus_mount = services["prometheus"]["volumes"][0].split(":")
    scrape = yaml.safe_load((ROOT / prometheus_mount[0]).read_text())
    targets = {
        target
        for job in scrape["scrape_configs"]
        for config in job["static_configs"]
        for target in config["targets"]
    }
    ports = {
        "api": "8000",
        "stream": services["stream"]["ports"][0].split(":")[0],
        "monitor": services["monitor"]["ports"][0].split(":")[0],
    }
    assert targets == {f"{name}:{port}" for name, port in ports.items()}
    assert datasources["datasources"][0]["url"] == "http://prometheus:9090"
    assert services["prometheus"]["ports"] == ["9090:9090"]
    assert "monitor" in services["monitor"]["command"]
