"""Shared fixtures: real services on loopback ports, or the ones the environment names."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from featurestore.services import EmbeddedBroker, EmbeddedRedis


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
