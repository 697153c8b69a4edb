"""Online freshness: event times from a bounded SCAN sample of a view's Redis hashes."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from feast.infra.key_encoding_utils import serialize_entity_key_prefix
from google.protobuf.timestamp_pb2 import Timestamp

_GLOB_SPECIAL = frozenset(b"*?[]\\")


@dataclass(frozen=True)
class OnlineFreshness:
    """How fresh a sample of a view's online values is; `error` says why there is no sample."""

    view: str
    sampled_keys: int
    with_value: int
    latest: datetime | None
    oldest: datetime | None
    median_age_seconds: float | None
    expired_share: float | None
    error: str | None = None


def scan_pattern(project: str, join_keys: Sequence[str]) -> bytes:
    """A SCAN MATCH pattern for the Redis keys of one entity in a project (glob-escaped)."""
    prefix = serialize_entity_key_prefix(list(join_keys), entity_key_serialization_version=3)
    return _escape(prefix) + b"*" + _escape(project.encode())


def online_freshness(
    client: redis.Redis,
    project: str,
    view: str,
    join_keys: Sequence[str],
    ttl_seconds: float | None,
    *,
    sample: int = 500,
    max_scans: int = 20,
    now: datetime | None = None,
) -> OnlineFreshness:
    """Read `_ts:<view>` of at most `sample` keys found in at most `max_scans` SCAN calls."""
    now = now or datetime.now(UTC)
    try:
        keys = _sample_keys(client, scan_pattern(project, join_keys), sample, max_scans)
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.hget(key, f"_ts:{view}")
        raw_times = pipe.execute()
    except redis.RedisError as exc:
        return OnlineFreshness(view, 0, 0, None, None, None, None, error=f"Redis: {exc}")
    times = sorted(_timestamp(raw) for raw in raw_times if raw)
    if not times:
        return OnlineFreshness(view, len(keys), 0, None, None, None, None)
    ages = [(now - moment).total_seconds() for moment in times]
    expired = sum(1 for age in ages if age > ttl_seconds) / len(ages) if ttl_seconds else 0.0
    return OnlineFreshness(
        view=view,
        sampled_keys=len(keys),
        with_value=len(times),
        latest=times[-1],
        oldest=times[0],
        median_age_seconds=statistics.median(ages),
        expired_share=round(expired, 6),
    )


def _sample_keys(client: redis.Redis, pattern: bytes, sample: int, max_scans: int) -> list[bytes]:
    keys: list[bytes] = []
    cursor = 0
    for _ in range(max_scans):
        cursor, batch = client.scan(cursor=cursor, match=pattern, count=1000)
        keys.extend(batch)
        if cursor == 0 or len(keys) >= sample:
            break
    return list(dict.fromkeys(keys))[:sample]


def _timestamp(raw: bytes) -> datetime:
    stamp = Timestamp()
    stamp.ParseFromString(raw)
    return stamp.ToDatetime(tzinfo=UTC)


def _escape(raw: bytes) -> bytes:
    return b"".join(b"\\" + bytes([b]) if b in _GLOB_SPECIAL else bytes([b]) for b in raw)
