"""The one place that builds Redis clients: a single node, a unix socket, or a Redis Cluster.

`redis_url` forms:
- `redis://host:port/db` (`rediss://` for TLS), `unix:///path/to/redis.sock?db=N`: one node;
- `redis+cluster://host1:port1,host2:port2` (`rediss+cluster://` for TLS): a Redis Cluster,
  found from any of these seed nodes. A cluster has no database numbers.

The same URL also becomes Feast's `online_store` config (`feast_online_store`), so Feast's own
reader and `feast` commands use the same server(s).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry

from featurestore.errors import ConfigError

RedisClient = redis.Redis | RedisCluster
"""What `connect` returns: redis-py's client of one node, or of a cluster."""

DEFAULT_TIMEOUT = 5.0
"""Seconds to connect and to wait for a reply, for writers, the CLI and background panels."""
SERVING_TIMEOUT = 1.0
"""Seconds for the HTTP server's reads: a Redis that is away gives a 503 in about a second."""
_CLUSTER_SCHEMES = {"redis+cluster": False, "rediss+cluster": True}
_EXPECTED = (
    "expected `redis://host:port/db`, `rediss://…` for TLS, `unix:///path.sock` or "
    "`redis+cluster://host1:port1,host2:port2` for a Redis Cluster"
)


@dataclass(frozen=True)
class RedisTarget:
    """Where `redis_url` points: seed nodes (one unless a cluster), or a unix socket."""

    url: str
    cluster: bool
    nodes: tuple[tuple[str, int], ...] = ()
    socket_path: str | None = None
    db: int = 0
    username: str | None = None
    password: str | None = None
    ssl: bool = False
    extra: dict[str, str] = field(default_factory=dict)


def parse_redis_url(url: str) -> RedisTarget:
    """The target of a `redis_url`; refuses a malformed one, naming it."""
    parsed = urlparse(url)
    query = {key: values[-1] for key, values in parse_qs(parsed.query).items()}
    username = unquote(parsed.username) if parsed.username else None
    password = unquote(parsed.password) if parsed.password else None
    if parsed.scheme == "unix":
        if not parsed.path:
            raise ConfigError("redis_url", url, f"no socket path; {_EXPECTED}")
        db = _database(url, query.get("db", "0"))
        return RedisTarget(url, False, socket_path=parsed.path, db=db, password=password)
    if parsed.scheme in _CLUSTER_SCHEMES:
        netloc = parsed.netloc.rpartition("@")[2]
        nodes = tuple(_host_port(url, seed) for seed in netloc.split(",") if seed)
        if not nodes:
            raise ConfigError("redis_url", url, f"no seed nodes; {_EXPECTED}")
        if parsed.path.strip("/") not in ("", "0"):
            raise ConfigError(
                "redis_url", url, "a Redis Cluster has only database 0; drop the `/db` part"
            )
        credentials = parsed.netloc.rpartition("@")[0]
        if credentials:
            user, _, secret = credentials.partition(":")
            username, password = unquote(user) or None, unquote(secret) or None
        ssl = _CLUSTER_SCHEMES[parsed.scheme] or query.get("ssl") == "true"
        return RedisTarget(url, True, nodes, username=username, password=password, ssl=ssl)
    if parsed.scheme not in {"redis", "rediss"} or not parsed.hostname:
        raise ConfigError("redis_url", url, _EXPECTED)
    return RedisTarget(
        url,
        False,
        ((parsed.hostname, parsed.port or 6379),),
        db=_database(url, parsed.path.lstrip("/") or "0"),
        username=username,
        password=password,
        ssl=parsed.scheme == "rediss" or query.get("ssl") == "true",
    )


def connect(url: str, *, timeout: float = DEFAULT_TIMEOUT, retries: int = 1) -> RedisClient:
    """A client of the Redis (or Redis Cluster) at `url`; connects on first use.

    `retries` immediate retries cover a dropped idle connection; redis-py's default backoff
    (several seconds) is not used, so an unreachable Redis fails within about `timeout`.
    """
    target = parse_redis_url(url)
    common: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "username": target.username,
        "password": target.password,
    }
    if target.cluster:
        return RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in target.nodes],
            ssl=target.ssl,
            retry=Retry(NoBackoff(), retries),
            **common,
        )
    retry = Retry(NoBackoff(), retries)
    if target.socket_path is not None:
        return redis.Redis(unix_socket_path=target.socket_path, db=target.db, retry=retry, **common)
    host, port = target.nodes[0]
    return redis.Redis(host, port, db=target.db, ssl=target.ssl, retry=retry, **common)


def feast_online_store(url: str) -> dict[str, Any]:
    """Feast's `online_store` settings for the same Redis: `type`, `redis_type` and
    `connection_string` (`host:port,…,db=N,password=…,ssl=true`)."""
    target = parse_redis_url(url)
    if target.socket_path is not None:
        # Feast passes `key=value` items to redis-py; host and port are then ignored.
        parts = ["localhost:6379", f"unix_socket_path={target.socket_path}"]
    else:
        parts = [f"{host}:{port}" for host, port in target.nodes]
    if target.db:
        parts.append(f"db={target.db}")
    if target.password:
        parts.append(f"password={target.password}")
    if target.username:
        parts.append(f"username={target.username}")
    if target.ssl:
        parts.append("ssl=true")
    return {
        "type": "redis",
        "redis_type": "redis_cluster" if target.cluster else "redis",
        "connection_string": ",".join(parts),
    }


def is_cluster(client: RedisClient) -> bool:
    """Whether `client` talks to a Redis Cluster."""
    return isinstance(client, RedisCluster)


def primaries(client: RedisClient) -> Sequence[redis.Redis]:
    """A client per master: the client itself for one node, each primary's for a cluster."""
    if isinstance(client, RedisCluster):
        return [client.get_redis_connection(node) for node in client.get_primaries()]
    return [client]


def _host_port(url: str, seed: str) -> tuple[str, int]:
    host, sep, port = seed.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError("redis_url", url, f"seed node `{seed}` is not `host:port`")
    return host, int(port)


def _database(url: str, raw: str) -> int:
    if not raw.isdigit():
        raise ConfigError("redis_url", url, f"database `{raw}` must be a number")
    return int(raw)
