"""Rights-to-use hold against two real `featurestore serve` processes sharing one data dir.

Each test is one finding a hostile or careless user reported; they share the servers and use
distinct objects, and put back what they restrict.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from featurestore.services.process import free_port

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2] / "feature_repo"
TOKENS = {
    "admin-token": {"role": "admin", "name": "data-governance"},
    "registrar-token": "registrar",
    "reader-token": "reader",
}
ADMIN = {"Authorization": "Bearer admin-token"}
REGISTRAR = {"Authorization": "Bearer registrar-token"}
READER = {"Authorization": "Bearer reader-token"}
ANALYTICS_ONLY = {"license": "LicenseRef-noaa", "pii": "none", "purposes": ["analytics"]}


@dataclass(frozen=True)
class Servers:
    """Two serve processes over one data dir, and the Redis they share."""

    first: str
    second: str
    data_dir: Path
    redis_url: str


def _start(data_dir: Path, redis_url: str) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    env = {
        **os.environ,
        "FEATURESTORE_REDIS_URL": redis_url,
        "FEATURESTORE_API_TOKENS": json.dumps(TOKENS),
        "FEATURESTORE_SERVING_LOG_SAMPLE_RATE": "0",
    }
    command = [sys.executable, "-m", "featurestore", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--data-dir", str(data_dir), "--repo", str(REPO)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return f"http://127.0.0.1:{port}", process


def _wait_until_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            pytest.fail(f"`featurestore serve` exited with {process.returncode}:\n{output}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    pytest.fail(f"`featurestore serve` did not answer on {url} within {timeout} s")


@pytest.fixture(scope="module")
def servers(
    flights_data_dir: Path, tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> Iterator[Servers]:
    data_dir = tmp_path_factory.mktemp("rights") / "data"
    shutil.copytree(flights_data_dir, data_dir)
    started = [_start(data_dir, redis_url), _start(data_dir, redis_url)]
    try:
        for url, process in started:
            _wait_until_healthy(url, process)
        yield Servers(started[0][0], started[1][0], data_dir, redis_url)
    finally:
        for _, process in started:
            process.terminate()
        for _, process in started:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def patch(url: str, kind: str, name: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
    return httpx.patch(f"{url}/catalog/objects/{kind}/{name}", json=body, headers=headers)


def check(url: str, purpose: str, **selection: Any) -> dict[str, Any]:
    response = httpx.post(
        f"{url}/catalog/rights/check", json={"purpose": purpose, **selection}, headers=READER
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def serve(url: str, **selection: Any) -> httpx.Response:
    entities = {"origin": ["JFK"], "tailnum": ["N14228"], "carrier": ["UA"], "route": ["JFK-IAH"]}
    body = {"entities": entities, **selection}
    return httpx.post(f"{url}/online/features", json=body, headers=READER)


def lift(url: str, kind: str, name: str) -> None:
    response = patch(url, kind, name, {"rights": None}, ADMIN)
    assert response.status_code == 200, response.text


def test_patching_a_view_keeps_its_sources_registered_restriction(servers: Servers) -> None:
    url = servers.first
    restricted = patch(
        url, "data_source", "weather_hourly_source", {"rights": ANALYTICS_ONLY}, ADMIN
    )
    assert restricted.status_code == 200, restricted.text
    assert not check(url, "serving", features=["weather_hourly:temp"])["allowed"]

    described = patch(
        url, "feature_view", "weather_hourly", {"description": "Hourly METAR weather."}, REGISTRAR
    )

    assert described.status_code == 200, described.text
    decision = check(url, "serving", features=["weather_hourly:temp"])
    assert not decision["allowed"]
    assert decision["denials"][0]["source_name"] == "weather_hourly_source"
    refused = serve(url, features=["weather_hourly:temp"])
    assert refused.status_code == 403, refused.text
    source = httpx.get(f"{url}/catalog/objects/data_source/weather_hourly_source", headers=READER)
    assert source.json()["provenance"]["rights"].startswith("registered by data-governance at ")
    lift(url, "data_source", "weather_hourly_source")
    assert serve(url, features=["weather_hourly:temp"]).status_code == 200


def test_entity_and_feature_service_rights_are_enforced(servers: Servers) -> None:
    url = servers.first
    personal = {"license": "LicenseRef-faa", "pii": "personal", "purposes": ["training"]}
    assert patch(url, "entity", "plane", {"rights": personal}, ADMIN).status_code == 200

    decision = check(url, "serving", features=["plane_attributes:seats"])
    refused = serve(url, features=["plane_attributes:seats"])
    rights = httpx.get(f"{url}/catalog/rights/feature/plane_attributes:seats", headers=READER)

    assert [(d["source_kind"], d["source_name"]) for d in decision["denials"]] == [
        ("entity", "plane")
    ]
    assert refused.status_code == 403
    assert "entity `plane`" in refused.json()["detail"]
    assert rights.json()["terms"]["pii"] == "personal"
    lift(url, "entity", "plane")

    training_only = {"license": "LicenseRef-internal", "pii": "none", "purposes": ["training"]}
    assert (
        patch(url, "feature_service", "delay_model_v1", {"rights": training_only}, ADMIN)
    ).status_code == 200
    by_service = serve(url, feature_service="delay_model_v1")
    assert by_service.status_code == 403
    assert "feature service `delay_model_v1`" in by_service.json()["detail"]
    service_check = check(url, "serving", feature_service="delay_model_v1")
    assert {d["source_name"] for d in service_check["denials"]} == {"delay_model_v1"}
    lift(url, "feature_service", "delay_model_v1")
    assert serve(url, feature_service="delay_model_v1").status_code == 200


def test_a_revocation_through_one_server_is_refused_by_the_other_on_its_next_request(
    servers: Servers,
) -> None:
    assert serve(servers.second, features=["carrier_daily_stats:on_time_rate"]).status_code == 200
    revoked = patch(
        servers.first,
        "feature_view",
        "carrier_daily_stats",
        {"rights": ANALYTICS_ONLY},
        ADMIN,
    )
    assert revoked.status_code == 200, revoked.text

    refused = serve(servers.second, features=["carrier_daily_stats:on_time_rate"])

    assert refused.status_code == 403, refused.text
    assert not check(servers.second, "serving", features=["carrier_daily_stats:on_time_rate"])[
        "allowed"
    ]
    lift(servers.second, "feature_view", "carrier_daily_stats")
    assert serve(servers.first, features=["carrier_daily_stats:on_time_rate"]).status_code == 200


def test_apply_keeps_registered_metadata_and_says_so(servers: Servers, tmp_path: Path) -> None:
    url = servers.first
    registered = patch(
        url,
        "feature_view",
        "route_attributes",
        {"description": "Great-circle distance per route.", "tags": {"tier": "gold"}},
        REGISTRAR,
    )
    assert registered.status_code == 200, registered.text
    assert patch(url, "data_source", "routes_source", {"rights": ANALYTICS_ONLY}, ADMIN)
    repo = tmp_path / "repo"
    shutil.copytree(REPO, repo, ignore=shutil.ignore_patterns("__pycache__"))
    features = repo / "flights_features.py"
    features.write_text(features.read_text().replace('"1"}', '"2"}', 1))
    data = str(servers.data_dir)

    result = subprocess.run(
        [sys.executable, "-m", "featurestore", "apply", "--repo", str(repo), "--data-dir", data],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "FEATURESTORE_REDIS_URL": servers.redis_url, "COLUMNS": "200"},
    )

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    overrides = [line for line in lines if "override the definitions" in line and "route" in line]
    assert [line.split(":")[0] for line in overrides] == [
        "data source `routes_source`",
        "feature view `route_attributes`",
    ]
    assert "registered description, tags.tier override" in overrides[1]
    view = httpx.get(f"{url}/catalog/objects/feature_view/route_attributes", headers=READER)
    assert view.json()["description"] == "Great-circle distance per route."
    assert view.json()["tags"]["tier"] == "gold"
    assert view.json()["provenance"]["owner"] == "from definitions"
    assert not check(url, "training", features=["route_attributes:distance"])["allowed"]
    audit = httpx.get(
        f"{url}/catalog/audit",
        params={"object_kind": "feature_service", "object_name": "delay_model_v1"},
        headers=READER,
    ).json()
    applied = [e for e in audit["entries"] if e["actor"] == "apply"]
    assert applied[0]["changes"] == {"tags.version": {"before": "1", "after": "2"}}
    assert applied[0]["origin"] == "flights_features.py"
    lift(url, "data_source", "routes_source")


def test_twenty_concurrent_if_match_patches_one_wins_per_version(servers: Servers) -> None:
    url = servers.second
    path = f"{url}/catalog/objects/entity/carrier"
    etag = httpx.get(path, headers=READER).headers["ETag"]

    def attempt(i: int) -> tuple[int, str]:
        headers = {**REGISTRAR, "If-Match": etag}
        response = httpx.patch(path, json={"tags": {"reviewer": f"person-{i}"}}, headers=headers)
        return response.status_code, response.text

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(attempt, range(20)))

    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] + [409] * 19
    current = int(etag.strip('"')) + 1
    conflicts = [text for status, text in answers if status == 409]
    assert all(f"at metadata version `{current}`" in text for text in conflicts)
    audit = httpx.get(
        f"{url}/catalog/audit",
        params={"object_kind": "entity", "object_name": "carrier"},
        headers=READER,
    ).json()
    assert [e["action"] for e in audit["entries"]] == ["update_metadata", "apply_definitions"]

    # Nothing is lost: each loser re-reads and retries until it lands.
    def retry(i: int) -> None:
        while True:
            tag = httpx.get(path, headers=READER).headers["ETag"]
            headers = {**REGISTRAR, "If-Match": tag}
            body = {"tags": {f"reviewer_{i}": f"person-{i}"}}
            if httpx.patch(path, json=body, headers=headers).status_code == 200:
                return

    with ThreadPoolExecutor(max_workers=5) as pool:
        list(pool.map(retry, range(5)))
    final = httpx.get(path, headers=READER)
    assert final.headers["ETag"] == f'"{current + 5}"'
    assert {f"reviewer_{i}" for i in range(5)} <= set(final.json()["tags"])
