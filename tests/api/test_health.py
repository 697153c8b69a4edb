"""GET /health against a real Redis."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from featurestore.api import create_app
from featurestore.services.process import free_port
from featurestore.settings import load_settings

pytestmark = pytest.mark.integration


def test_health_is_ok_with_redis_and_a_registry(
    flights_data_dir: Path, tmp_path: Path, redis_url: str
) -> None:
    settings = load_settings(data_dir=tmp_path)
    shutil.copy(flights_data_dir / "registry.db", settings.registry_path)
    client = TestClient(create_app(settings, redis_url))

    response = client.get("/health")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "redis": "ok",
        "registry": "ok",
        "version": "0.1.0",
    }


def test_health_is_503_naming_what_is_missing(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    unreachable = f"redis://127.0.0.1:{free_port()}/0"
    client = TestClient(create_app(settings, unreachable))

    response = client.get("/health")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["redis"].startswith("unreachable")
    assert body["registry"] == f"missing: `{settings.registry_path}`; run `featurestore apply`"


@pytest.mark.parametrize(
    ("content", "state"),
    [(b"", "empty: `{path}` registers nothing"), (b"\xff\xffnot a registry", "corrupt: `{path}`")],
)
def test_health_opens_the_registry_and_reports_an_empty_or_corrupt_one(
    tmp_path: Path, redis_url: str, content: bytes, state: str
) -> None:
    settings = load_settings(data_dir=tmp_path)
    settings.registry_path.write_bytes(content)
    client = TestClient(create_app(settings, redis_url))

    response = client.get("/health")

    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["redis"]) == ("degraded", "ok")
    assert body["registry"].startswith(state.format(path=settings.registry_path))
    assert body["registry"].endswith("run `featurestore apply`")
