"""Online freshness from a SCAN sample of the `_ts:<view>` fields Feast writes to Redis."""

from __future__ import annotations

import contextlib
import io
import shutil
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from featurestore.catalog.freshness import OnlineFreshness, online_freshness
from featurestore.online.layout import scan_pattern
from featurestore.repo import open_store
from featurestore.settings import load_settings

pytestmark = pytest.mark.integration

NOW = datetime(2014, 1, 1, tzinfo=UTC)


def redis_db(url: str, db: int) -> str:
    """The same server, another database, so other tests' keys never mix in."""
    return urlparse(url)._replace(path=f"/{db}").geturl()


@pytest.fixture
def materialized(flights_data_dir: Path, tmp_path: Path, redis_url: str) -> redis.Redis:
    """weather_hourly materialized by Feast itself into a private Redis database."""
    url = redis_db(redis_url, 5)
    client = redis.Redis.from_url(url)
    client.flushdb()
    shutil.copy(flights_data_dir / "registry.db", tmp_path / "registry.db")
    store = open_store(load_settings(data_dir=tmp_path), url)
    with contextlib.redirect_stdout(io.StringIO()):  # Feast prints progress
        store.materialize(
            start_date=datetime(2013, 1, 1, tzinfo=UTC),
            end_date=NOW,
            feature_views=["weather_hourly"],
        )
    return client


def test_samples_the_event_times_feast_wrote(materialized: redis.Redis) -> None:
    fresh = online_freshness(materialized, "flights", "weather_hourly", ["origin"], 7200, now=NOW)

    latest = datetime(2013, 12, 30, 23, tzinfo=UTC)
    assert fresh == OnlineFreshness(
        view="weather_hourly",
        sampled_keys=3,
        with_value=3,
        latest=latest,
        oldest=latest,
        median_age_seconds=(NOW - latest).total_seconds(),
        expired_share=1.0,
    )


def test_a_view_without_online_values_samples_nothing(materialized: redis.Redis) -> None:
    fresh = online_freshness(materialized, "flights", "plane_attributes", ["tailnum"], None)

    assert (fresh.sampled_keys, fresh.with_value, fresh.latest) == (0, 0, None)


def test_sampling_is_bounded(materialized: redis.Redis) -> None:
    fresh = online_freshness(materialized, "flights", "weather_hourly", ["origin"], 7200, sample=2)

    assert (fresh.sampled_keys, fresh.with_value) == (2, 2)


def test_an_unreachable_redis_is_reported_not_raised() -> None:
    client = redis.Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))

    fresh = online_freshness(client, "flights", "weather_hourly", ["origin"], 7200)

    assert fresh.error is not None and fresh.error.startswith("Redis: ")


def test_scan_pattern_escapes_glob_characters_in_key_names() -> None:
    pattern = scan_pattern("p*", ["a?b"])

    assert pattern.endswith(b"*p\\*")
    assert b"a\\?b" in pattern
