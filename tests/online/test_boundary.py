"""The online store is one place: Redis clients and Feast's Redis layout live only in it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from feast.infra.key_encoding_utils import serialize_entity_key_prefix
from redis import exceptions as redis_exceptions

from featurestore.errors import ServiceError
from featurestore.online.connection import feast_online_store, parse_redis_url
from featurestore.online.errors import OnlineStoreError, redis_errors
from featurestore.online.layout import key_prefix

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = [ROOT / "featurestore", ROOT / "streaming"]
CLIENT_FACTORY = ROOT / "featurestore" / "online" / "connection.py"
LAYOUT_OWNERS = {ROOT / "featurestore" / "online" / name for name in ("layout.py",)}
CLIENT_CONSTRUCTION = re.compile(
    r"redis\.(Redis|StrictRedis)\(|\bfrom_url\(|StrictRedis|RedisCluster\(|Sentinel\("
)
# Feast's Redis layout: the `_ts:<view>` field, murmur3 field names, its key serializer.
LAYOUT_LITERAL = re.compile(
    r"_ts:|\bmmh3\b|key_encoding_utils|serialize_entity_key|struct\.Struct\(\"<I\"\)"
)


def library_files() -> list[Path]:
    return sorted(path for folder in LIBRARY for path in folder.rglob("*.py"))


def offending(pattern: re.Pattern[str], allowed: set[Path]) -> list[str]:
    found = []
    for path in library_files():
        if path in allowed:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if pattern.search(code) and not code.strip().startswith(('"', "'", "`", "-")):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    return found


def test_the_scan_sees_the_library() -> None:
    assert CLIENT_FACTORY in library_files() and len(library_files()) > 50


def test_no_redis_client_is_built_outside_the_connection_module() -> None:
    assert offending(CLIENT_CONSTRUCTION, {CLIENT_FACTORY}) == []


def test_no_feast_layout_literal_outside_the_layout_module() -> None:
    assert offending(LAYOUT_LITERAL, LAYOUT_OWNERS) == []


def test_the_scans_find_what_they_look_for() -> None:
    assert CLIENT_CONSTRUCTION.search("client = redis.Redis.from_url(url)")
    assert CLIENT_CONSTRUCTION.search("redis.Redis(host, port)")
    assert LAYOUT_LITERAL.search('pipe.hget(key, f"_ts:{view}")')
    assert LAYOUT_LITERAL.search("from feast.infra.key_encoding_utils import x")


@pytest.mark.parametrize("keys", [["origin"], ["tailnum", "carrier"], ["b", "a", "é"]])
def test_the_key_prefix_is_feasts(keys: list[str]) -> None:
    assert key_prefix(keys) == serialize_entity_key_prefix(keys, entity_key_serialization_version=3)


def test_a_cluster_url_becomes_feasts_redis_cluster_config() -> None:
    url = "redis+cluster://:secret@10.0.0.1:7000,10.0.0.2:7001"

    assert parse_redis_url(url).nodes == (("10.0.0.1", 7000), ("10.0.0.2", 7001))
    assert feast_online_store(url) == {
        "type": "redis",
        "redis_type": "redis_cluster",
        "connection_string": "10.0.0.1:7000,10.0.0.2:7001,password=secret",
    }
    assert feast_online_store("redis://h:6380/3")["connection_string"] == "h:6380,db=3"
    assert feast_online_store("unix:///run/redis.sock?db=2")["connection_string"] == (
        "localhost:6379,unix_socket_path=/run/redis.sock,db=2"
    )


@pytest.mark.parametrize(
    "url", ["redis+cluster://", "redis+cluster://h:1/2", "redis+cluster://h", "http://h:1"]
)
def test_a_malformed_url_is_refused_by_name(url: str) -> None:
    from featurestore.errors import ConfigError

    with pytest.raises(ConfigError, match=re.escape(f"`{url}`")):
        parse_redis_url(url)


@pytest.mark.parametrize(
    "raised",
    [
        redis_exceptions.ClusterDownError("CLUSTERDOWN The cluster is down"),
        redis_exceptions.TryAgainError("TRYAGAIN"),
        redis_exceptions.ReadOnlyError("READONLY You can't write against a read only replica."),
        redis_exceptions.SlotNotCoveredError("Slot 7 not covered"),
        redis_exceptions.ConnectionError("Connection refused"),
    ],
)
def test_a_failover_or_resharding_is_a_transient_error(raised: Exception) -> None:
    with pytest.raises(ServiceError, match="write x"), redis_errors("write x"):
        raise raised


def test_a_refused_command_is_not_retried() -> None:
    with pytest.raises(OnlineStoreError), redis_errors("write x"):
        raise redis_exceptions.ResponseError("WRONGTYPE Operation against a key")
