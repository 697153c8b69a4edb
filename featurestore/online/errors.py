"""The Redis adapter boundary: redis-py exceptions become featurestore errors here."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import redis

from featurestore.errors import ErrorKind, ServiceError, TerminalError


class OnlineStoreError(TerminalError):
    """Redis refused a command in a way retrying cannot fix (wrong key type, bad script)."""

    error_kind: ErrorKind = "unavailable"


@contextlib.contextmanager
def redis_errors(action: str) -> Iterator[None]:
    """Translate redis-py exceptions raised while doing `action` (e.g. `write daily_stats`)."""
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError) as exc:
        raise ServiceError(
            f"Redis did not answer while trying to `{action}`: {exc}. Check that Redis is "
            "running and reachable at the configured `redis_url`, then retry."
        ) from exc
    except redis.RedisError as exc:
        raise OnlineStoreError(
            f"Redis refused to `{action}`: {exc}. The keys may hold data not written in Feast's "
            "format; check the database number in `redis_url`."
        ) from exc
