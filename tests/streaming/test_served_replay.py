"""A live store replayed row by row: the stream consumer (real broker, real Redis) is ahead of
a request's time, so the served window is fresher than what the offline store knew then, and
the replay says so instead of hiding it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from featurestore.examples.flights.demo import FEATURE_SERVICE
from featurestore.examples.flights.events import replay_flights
from featurestore.online.client import OnlineClient
from featurestore.online.connection import connect
from featurestore.online.serving_log import ServingLog
from featurestore.quality.replay import replay_serving_log
from featurestore.repo import open_store

if TYPE_CHECKING:
    from conftest import StreamEnv

pytestmark = pytest.mark.integration

EVENTS = 600
ORIGINS = ("EWR", "JFK", "LGA")


def test_a_stream_ahead_of_the_request_replays_as_online_newer(
    stream_env: StreamEnv, tmp_path: Path
) -> None:
    events = stream_env.whole_minutes(EVENTS)
    published = replay_flights(
        stream_env.flights_path, stream_env.bootstrap_servers, topic=stream_env.topic, limit=events
    )
    stream_env.consume()
    assert published.last_event is not None
    store = open_store(stream_env.settings, stream_env.redis_url)
    client = connect(stream_env.redis_url)
    # Served half an hour before the stream's last departure, from the store as it is now.
    moment = published.last_event - timedelta(minutes=30)
    entities = [
        {"origin": origin, "carrier": "UA", "tailnum": "N14228", "route": f"{origin}-ORD"}
        for origin in ORIGINS
    ]
    try:
        with ServingLog(tmp_path / "log", sample_rate=1.0) as log:
            served = OnlineClient(store, client).get(FEATURE_SERVICE, entities, now=moment)
            log.record(served, request_time=moment)
    finally:
        client.close()

    report = replay_serving_log(store, tmp_path / "log")

    assert report.replayed_rows == len(ORIGINS)
    stream = {
        f.feature: f for f in report.features if f.feature.startswith(f"{stream_env.spec.view}:")
    }
    assert set(stream) == {
        f"{stream_env.spec.view}:{name}" for name in stream_env.spec.feature_names
    }
    departures = stream[f"{stream_env.spec.view}:departures_60m"]
    assert departures.mismatches > 0
    for feature in stream.values():
        assert feature.causes == {"online_newer": feature.mismatches}
        for example in feature.examples:
            assert example.served_event_timestamp is not None
            assert example.served_event_timestamp > moment
            offline_at = example.offline_event_timestamp
            assert offline_at is None or offline_at <= moment
