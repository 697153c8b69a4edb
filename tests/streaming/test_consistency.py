"""After a replay, online values equal the batch backfill's point-in-time values — exactly."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import pyarrow as pa
import pytest

from featurestore.examples.flights.events import departure_events, replay_flights
from featurestore.offline.retrieval import historical_features
from featurestore.repo import open_store

if TYPE_CHECKING:
    from conftest import StreamEnv

pytestmark = pytest.mark.integration

EVENTS = 12_000


def test_after_a_replay_online_values_and_the_offline_log_equal_the_batch_backfill(
    stream_env: StreamEnv,
) -> None:
    """Online: each origin's value equals the point-in-time value of the backfill at the online
    value's event time. Offline: the log holds exactly the backfill's final rows."""
    events = stream_env.whole_minutes(EVENTS)
    published = replay_flights(
        stream_env.flights_path, stream_env.bootstrap_servers, topic=stream_env.topic, limit=events
    )
    stats = stream_env.consume(checkpoint_seconds=0.2, max_poll_records=700)
    online = stream_env.online_rows()

    spine = pa.table(
        {
            "origin": list(online),
            "event_timestamp": pa.array(
                [at for at, _ in online.values()], pa.timestamp("us", "UTC")
            ),
        }
    )
    store = open_store(stream_env.settings, stream_env.redis_url)
    offline = historical_features(
        store,
        spine,
        [f"{stream_env.spec.view}:{n}" for n in stream_env.spec.feature_names],
    ).table.to_pylist()
    lateness = stream_env.spec.allowed_lateness
    final = " OR ".join(
        f"(origin = '{o}' AND event_timestamp <= TIMESTAMPTZ '{(at - lateness).isoformat()}')"
        for o, (at, _) in online.items()
    )

    assert (published.published, stats.consumed, stats.dead_lettered) == (events, events, 0)
    last_departure = {
        e["origin"]: e["event_timestamp"]
        for e in departure_events(stream_env.flights_path, limit=events)
    }
    assert {origin: at for origin, (at, _) in online.items()} == last_departure
    assert {
        row["origin"]: (row["departures_60m"], row["mean_dep_delay_60m"]) for row in offline
    } == {origin: values for origin, (_, values) in online.items()}
    assert stream_env.log.read().to_pylist() == stream_env.backfill_rows(final).to_pylist()
    assert timedelta(0) < lateness
