"""A stream replayed into a Redis Cluster ends with the same online state as into one node."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from featurestore.examples.flights.events import replay_flights
from featurestore.online.connection import connect, primaries
from featurestore.services.redis_cluster import EmbeddedRedisCluster

if TYPE_CHECKING:
    from conftest import StreamEnv

pytestmark = pytest.mark.integration

EVENTS = 2_000


def test_a_replay_into_a_cluster_ends_as_into_one_node(
    stream_env: StreamEnv, redis_cluster: EmbeddedRedisCluster
) -> None:
    cluster = connect(redis_cluster.url)
    for node in primaries(cluster):
        node.flushdb()
    events = stream_env.whole_minutes(EVENTS)
    replay_flights(
        stream_env.flights_path, stream_env.bootstrap_servers, topic=stream_env.topic, limit=events
    )
    into_cluster = stream_env.with_redis(redis_cluster.url)
    into_cluster.log_dir = stream_env.log_dir.with_name("log-cluster")

    one_node = stream_env.consume(checkpoint_seconds=0.2)
    clustered = into_cluster.consume(checkpoint_seconds=0.2, group_id=f"{stream_env.topic}.c")

    assert one_node.consumed == clustered.consumed == events
    online = into_cluster.online_rows()
    assert online == stream_env.online_rows()
    assert all(at is not None for at, _ in online.values())
    cluster.close()
