"""The online store is one place: Redis clients and Feast's Redis layout live only in it."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
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
LAYOUT_OWNER = ROOT / "featurestore" / "online" / "layout.py"
CLIENT_CLASSES = {"Redis", "StrictRedis", "RedisCluster", "Sentinel", "from_url"}
# Feast's Redis layout: the `_ts:<view>` field, murmur3 field names, its key serializer.
LAYOUT_MODULES = {"mmh3", "feast.infra.key_encoding_utils"}
LAYOUT_NAMES = {"serialize_entity_key", "serialize_entity_key_prefix"}


def library_files() -> list[Path]:
    return sorted(path for folder in LIBRARY for path in folder.rglob("*.py"))


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings (prose, not code)."""
    found = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            found.add(id(first.value))
    return found


def client_constructions(source: str) -> list[int]:
    """Lines that call a redis-py client constructor (`redis.Redis(…)`, `….from_url(…)`, …)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in CLIENT_CLASSES:
                lines.append(node.lineno)
    return lines


def layout_literals(source: str) -> list[int]:
    """Lines that spell Feast's layout: a `_ts:` string, mmh3, Feast's key serializer."""
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and id(node) not in docstrings:
            value = node.value
            text = value.decode(errors="replace") if isinstance(value, bytes) else value
            if isinstance(text, str) and "_ts:" in text:
                lines.append(node.lineno)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            modules = [alias.name for alias in node.names]
            if isinstance(node, ast.ImportFrom):
                modules = [node.module or "", *(f"{node.module}.{m}" for m in modules)]
            if any(m in LAYOUT_MODULES or m.rsplit(".", 1)[-1] in LAYOUT_NAMES for m in modules):
                lines.append(node.lineno)
        elif isinstance(node, ast.Attribute | ast.Name):
            name = node.attr if isinstance(node, ast.Attribute) else node.id
            if name in LAYOUT_NAMES or name == "mmh3":
                lines.append(node.lineno)
    return lines


def offending(find: Callable[[str], list[int]], allowed: Path) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{line}"
        for path in library_files()
        if path != allowed
        for line in find(path.read_text())
    ]


def test_the_scan_sees_the_library() -> None:
    assert CLIENT_FACTORY in library_files() and len(library_files()) > 50


def test_no_redis_client_is_built_outside_the_connection_module() -> None:
    assert offending(client_constructions, CLIENT_FACTORY) == []


def test_no_feast_layout_literal_outside_the_layout_module() -> None:
    assert offending(layout_literals, LAYOUT_OWNER) == []


def test_the_scans_find_what_they_look_for() -> None:
    assert client_constructions("import redis\nc = redis.Redis.from_url(url)\n") == [2]
    assert client_constructions("c = redis.Redis(host, port)\nd = RedisCluster(n)\n") == [1, 2]
    assert layout_literals('"""Docs may say `_ts:<view>`."""\npipe.hget(key, f"_ts:{v}")\n') == [2]
    assert layout_literals("from feast.infra.key_encoding_utils import x\n") == [1]
    assert layout_literals("import mmh3\n") == [1]
    assert layout_literals("from feast.infra import key_encoding_utils\n") == [1]


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
