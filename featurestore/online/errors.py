"""The Redis adapter boundary: redis-py exceptions become featurestore errors here."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import redis
from redis.exceptions import (
    AskError,
    ClusterError,
    ReadOnlyError,
    RedisClusterException,
    TryAgainError,
)

from featurestore.errors import ErrorKind, ServiceError, TerminalError

# A cluster in the middle of a failover or a resharding answers these for a moment; a later try
# (with the slot map refreshed) succeeds, so callers retry them like a lost connection.
TRANSIENT = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.BusyLoadingError,
    ClusterError,  # CLUSTERDOWN, MASTERDOWN, redirections exhausted
    TryAgainError,  # a multi-key command on a slot being migrated
    AskError,  # MOVED/ASK that could not be followed
    ReadOnlyError,  # a write reached a master just demoted to replica
    RedisClusterException,  # slot not covered while the map is refreshed
)


class OnlineStoreError(TerminalError):
    """Redis refused a command in a way retrying cannot fix (wrong key type, bad script)."""

    error_kind: ErrorKind = "unavailable"


@contextlib.contextmanager
def redis_errors(action: str) -> Iterator[None]:
    """Translate redis-py exceptions raised while doing `action` (e.g. `write daily_stats`)."""
    try:
        yield
    except TRANSIENT as exc:
        raise ServiceError(
            f"Redis did not answer while trying to `{action}`: {exc}. Check that Redis is "
            "running and reachable at the configured `redis_url`, then retry."
        ) from exc
    except redis.RedisError as exc:
        raise OnlineStoreError(
            f"Redis refused to `{action}`: {exc}. The keys may hold data not written in Feast's "
            "format; check the database number in `redis_url`."
        ) from exc
