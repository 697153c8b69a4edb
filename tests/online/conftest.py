"""A small Feast repo per test on the session's real Redis (see online_repo)."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from online_repo import PRISTINE_REGISTRY, MiniRepo, with_database

from featurestore.apply import apply_repo
from featurestore.examples.flights import ingest_flights
from featurestore.repo import open_store
from featurestore.settings import Settings, load_settings


@pytest.fixture
def repo(tmp_path: Path, redis_url: str) -> Iterator[MiniRepo]:
    repo_path = tmp_path / "repo"
    repo_path.mkdir()
    project = f"t{uuid.uuid4().hex[:12]}"
    (repo_path / "feature_store.yaml").write_text(
        f"project: {project}\nprovider: local\nonline_store:\n  type: redis\n"
        "entity_key_serialization_version: 3\n"
    )
    settings = load_settings(repo_path=repo_path, data_dir=tmp_path / "data", redis_url=redis_url)
    client = redis.Redis.from_url(redis_url)
    data_dir = tmp_path / "sources"
    data_dir.mkdir()
    yield MiniRepo(settings, open_store(settings, redis_url), client, data_dir)
    client.close()


@pytest.fixture(scope="session")
def flights(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Settings:
    """The flights repo ingested and applied into its own data dir and Redis database 2 (other
    tests write project `flights` into database 0)."""
    settings = load_settings(
        data_dir=tmp_path_factory.mktemp("flights"), redis_url=with_database(redis_url, 2)
    )
    ingest_flights(settings.data_dir)
    apply_repo(settings, str(settings.redis_url))
    shutil.copy(settings.registry_path, settings.data_dir / PRISTINE_REGISTRY)
    return settings
