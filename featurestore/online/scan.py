"""Sample a view's stored event times with bounded SCANs: one cursor per master."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from featurestore.online.connection import RedisClient, primaries
from featurestore.online.decoding import decode_timestamp_micros, micros_to_datetime
from featurestore.online.errors import redis_errors
from featurestore.online.layout import scan_pattern, timestamp_field


def sample_event_times(
    client: RedisClient,
    project: str,
    view: str,
    join_keys: Sequence[str],
    *,
    sample: int = 500,
    max_scans: int = 20,
) -> tuple[int, list[datetime]]:
    """How many keys of the view's entity were sampled (at most `sample`, found in at most
    `max_scans` SCAN calls per master), and the event times of `view` stored under them.

    Each master is scanned for its share of the sample, and its keys' times are read from it
    in one pipeline. Raises ServiceError or OnlineStoreError if Redis fails."""
    pattern = scan_pattern(project, join_keys)
    field = timestamp_field(view)
    nodes = primaries(client)
    share = -(-sample // len(nodes)) if nodes else 0
    sampled = 0
    times: list[datetime] = []
    with redis_errors(f"sample online values of {view}"):
        for node in nodes:
            keys: list[bytes] = []
            cursor = 0
            for _ in range(max_scans):
                cursor, batch = node.scan(cursor=cursor, match=pattern, count=1000)
                keys.extend(batch)
                if cursor == 0 or len(keys) >= share:
                    break
            keys = list(dict.fromkeys(keys))[: min(share, sample - sampled)]
            sampled += len(keys)
            pipe = node.pipeline(transaction=False)
            for key in keys:
                pipe.hget(key, field)
            raws = pipe.execute()
            times += [micros_to_datetime(decode_timestamp_micros(raw)) for raw in raws if raw]
    return sampled, sorted(times)
