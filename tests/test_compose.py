"""docker-compose.yml stays valid: its `scale` profile runs a 3-master Redis Cluster (with the job
that creates it) and two stream consumers on it. Docker is not needed: the file is parsed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.main import get_command

from featurestore.cli import app
from featurestore.online.connection import parse_redis_url

COMPOSE = Path(__file__).resolve().parents[1] / "docker-compose.yml"


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    result: dict[str, dict[str, Any]] = loaded["services"]
    return result


def in_profile(services: dict[str, dict[str, Any]], profile: str) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in services.items() if profile in s.get("profiles", [])}


def test_every_dependency_exists_and_the_default_stack_needs_no_profile(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        needed = service.get("depends_on", {})
        assert set(needed) <= set(services), name
        if not service.get("profiles"):
            assert not any(services[other].get("profiles") for other in needed), name


def test_the_scale_profile_runs_a_three_master_cluster_created_by_a_job(
    services: dict[str, dict[str, Any]],
) -> None:
    scale = in_profile(services, "scale")
    nodes = sorted(n for n, s in scale.items() if "--cluster-enabled" in s.get("command", []))
    init = scale["redis-cluster-init"]
    script = " ".join(init["command"])

    assert len(nodes) == 3
    for node in nodes:
        command = scale[node]["command"]
        assert command[command.index("--cluster-enabled") + 1] == "yes"
    assert "--cluster create " + " ".join(f"{n}:6379" for n in nodes) in script
    assert "--cluster-replicas 0" in script and init["restart"] == "no"
    assert set(init["depends_on"]) == set(nodes)


def test_two_stream_consumers_share_a_group_and_write_the_cluster(
    services: dict[str, dict[str, Any]],
) -> None:
    scale = in_profile(services, "scale")
    consumers = {n: s for n, s in scale.items() if s.get("command", [None])[0] == "stream"}
    nodes = {n for n, s in scale.items() if "--cluster-enabled" in s.get("command", [])}
    stream_options = {
        param.opts[0]
        for param in get_command(app).commands["stream"].params  # type: ignore[attr-defined]
        if param.opts
    }

    assert len(consumers) == 2
    commands = [s["command"] for s in consumers.values()]
    assert commands[0] == commands[1]
    assert {word for word in commands[0] if word.startswith("--")} <= stream_options
    for consumer in consumers.values():
        target = parse_redis_url(consumer["environment"]["FEATURESTORE_REDIS_URL"])
        assert target.cluster and {host for host, _ in target.nodes} == nodes
        assert consumer["depends_on"]["redis-cluster-init"] == {
            "condition": "service_completed_successfully"
        }
    ports = [port for s in consumers.values() for port in s.get("ports", [])]
    assert len(set(ports)) == len(ports)
