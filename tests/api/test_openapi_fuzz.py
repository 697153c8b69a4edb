"""schemathesis over the whole OpenAPI description, against a populated store.

The flights repo is ingested, applied and materialized; requests carry an admin token, so
operations reach their logic rather than 401; path parameters have examples naming real
objects. Examples, coverage and fuzzing phases run with a bounded number of examples per
operation; every check must pass (no server error, responses and statuses as documented).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import pytest
import redis
import schemathesis
from catalog_app import TOKENS, TRAINING_SET
from fastapi.testclient import TestClient
from schemathesis.config import SchemathesisConfig
from starlette.types import Receive, Scope, Send

from featurestore.api import create_app
from featurestore.api.serving_app import ServingApp
from featurestore.online.materialize import materialize
from featurestore.repo import open_store
from featurestore.settings import load_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MAX_EXAMPLES = 12


CONFIG = SchemathesisConfig.from_dict(
    {
        "headers": {"Authorization": "Bearer admin-token"},
        "generation": {"max-examples": MAX_EXAMPLES},
        # Schema-valid is not always valid: a license must be an SPDX id, a time ISO 8601, an
        # entity value of its key's type; such answers are the documented 422.
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "401", "403", "404", "409", "413", "422"]
            }
        },
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": False},
        },
    }
)


class _LateApp:
    """An ASGI app that forwards to the app a fixture builds later: the schema must exist at
    collection, the populated store only once fixtures run."""

    def __init__(self, app: ServingApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def _described_app() -> ServingApp:
    """The app over an empty data dir: enough for its OpenAPI description."""
    empty = Path(tempfile.mkdtemp(prefix="featurestore-openapi-"))
    settings = load_settings(data_dir=empty, serving_log_sample_rate=0)
    return create_app(settings, "redis://127.0.0.1:1/0")


PATH_EXAMPLES = {
    "view": "weather_hourly",
    "feature": "temp",
    "kind": "feature_view",
    "name": "weather_hourly",
}
BODY_EXAMPLES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/online/features"): {
        "feature_service": "delay_model_v1",
        "entities": {
            "origin": ["JFK"],
            "carrier": ["B6"],
            "tailnum": ["N665JB"],
            "route": ["JFK-PSE"],
        },
    },
    ("post", "/catalog/views/{view}/coverage/point-in-time"): {
        "entity_rows": [{"origin": "JFK", "event_timestamp": "2013-06-01T12:00:00Z"}],
        "features": ["temp"],
    },
    ("post", "/catalog/rights/check"): {"purpose": "training", "feature_service": "delay_model_v1"},
    ("post", "/catalog/models"): {
        "name": "delay_model",
        "feature_service": "delay_model_v1",
        "owner": "flight-ops-ml@example.org",
        "description": "Predicts arrival delays.",
    },
    ("patch", "/catalog/objects/{kind}/{name}"): {"description": "Hourly weather at origins."},
}


def with_examples(described: dict[str, Any]) -> dict[str, Any]:
    """The description with examples naming the flights repo's objects (the library itself
    knows no example domain)."""
    for path, operations in described["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"] in PATH_EXAMPLES:
                    parameter["example"] = PATH_EXAMPLES[parameter["name"]]
            body = BODY_EXAMPLES.get((method, path))
            if body is not None:
                operation["requestBody"]["content"]["application/json"]["example"] = body
    return described


late_app = _LateApp(_described_app())
schema = schemathesis.openapi.from_dict(with_examples(late_app.app.openapi()), config=CONFIG)
schema.app = late_app


@pytest.fixture(scope="module")
def populated_app(
    flights_data_dir: Path, tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> ServingApp:
    """The app over the flights repo: ingested, applied, materialized, one training set."""
    data_dir = tmp_path_factory.mktemp("openapi")
    shutil.copy(flights_data_dir / "registry.db", data_dir / "registry.db")
    manifest = data_dir / "training" / TRAINING_SET["name"] / "manifest.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps(TRAINING_SET))
    online = urlunparse(urlparse(redis_url)._replace(path="/5"))  # no other test writes db 5
    settings = load_settings(
        data_dir=data_dir, redis_url=online, api_tokens=TOKENS, serving_log_sample_rate=0
    )
    client = redis.Redis.from_url(online)
    materialize(
        open_store(settings, online),
        client,
        datetime(2013, 1, 1, tzinfo=UTC),
        datetime(2014, 1, 1, tzinfo=UTC),
    )
    client.close()
    app = create_app(settings, online)
    late_app.app = app
    return app


@schema.parametrize()
def test_every_operation_answers_as_documented(
    case: schemathesis.Case, populated_app: ServingApp
) -> None:
    assert late_app.app is populated_app
    case.call_and_validate()


@pytest.mark.parametrize(("method", "path"), sorted(BODY_EXAMPLES))
def test_the_examples_reach_real_objects(populated_app: ServingApp, method: str, path: str) -> None:
    url = path.format(**PATH_EXAMPLES)
    headers = {"Authorization": "Bearer admin-token"}

    with TestClient(populated_app) as client:
        response = client.request(method, url, json=BODY_EXAMPLES[(method, path)], headers=headers)

    assert response.status_code in (200, 201), response.text
