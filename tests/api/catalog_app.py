"""Build the app over a private copy of the applied flights registry, with one token per role."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from featurestore.api import create_app
from featurestore.settings import load_settings

TOKENS = {"reader-token": "reader", "registrar-token": "registrar", "admin-token": "admin"}
READER = {"Authorization": "Bearer reader-token"}
REGISTRAR = {"Authorization": "Bearer registrar-token"}
ADMIN = {"Authorization": "Bearer admin-token"}

TRAINING_SET = {
    "name": "delays_2013",
    "feature_service": "delay_model_v1",
    "features": ["weather_hourly:temp", "plane_attributes:seats"],
    "created_at": "2024-02-01T00:00:00+00:00",
    "purpose": "training",
}


def catalog_client(
    flights_data_dir: Path,
    data_dir: Path,
    redis_url: str,
    tokens: dict[str, Any] | None = None,
) -> TestClient:
    """A client of the whole app; the data dir holds a registry copy and one training set."""
    shutil.copy(flights_data_dir / "registry.db", data_dir / "registry.db")
    manifest = data_dir / "training" / TRAINING_SET["name"] / "manifest.json"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps(TRAINING_SET))
    settings = load_settings(data_dir=data_dir, api_tokens=TOKENS if tokens is None else tokens)
    return TestClient(create_app(settings, redis_url), raise_server_exceptions=False)
