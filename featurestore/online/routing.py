"""Which Redis Cluster master holds which key: keys grouped by slot owner, one pipeline each.

Slots are computed as Redis does (CRC16 of the key, or of its `{…}` part if it has one —
Feast's binary keys may contain such bytes by chance, and the server hashes them the same way).
The slot map is redis-py's, refreshed by it when a reply says `MOVED`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot
from redis.exceptions import AskError, ClusterDownError, TryAgainError

# Replies that mean "not here, not now" during a resharding or failover: the command is sent
# again through redis-py's cluster client, which follows MOVED (refreshing its slot map) and
# ASK, and waits out TRYAGAIN and CLUSTERDOWN.
REDIRECTED = (AskError, TryAgainError, ClusterDownError)  # MovedError is an AskError


@dataclass
class NodeGroup:
    """The positions of the keys one master holds, in request order."""

    node: ClusterNode
    positions: list[int] = field(default_factory=list)


def slot_of(key: bytes) -> int:
    """The cluster slot of a key."""
    return key_slot(key)


def group_by_node(cluster: RedisCluster, slots: Iterable[int]) -> list[NodeGroup]:
    """Positions of `slots` grouped by the master that owns each slot, as redis-py knows it."""
    groups: dict[str, NodeGroup] = {}
    owner: dict[int, NodeGroup] = {}
    manager: Any = cluster.nodes_manager  # redis-stubs lag redis-py's signature here
    # The first lookup applies a pending MOVED to the map; later ones read it directly
    # (redis-py's lookup costs more than the rest of the routing).
    table = manager.slots_cache
    checked = False
    for position, slot in enumerate(slots):
        group = owner.get(slot)
        if group is None:
            holders = table.get(slot) if checked else None
            node = holders[0] if holders else manager.get_node_from_slot(slot)
            checked = True
            group = groups.get(node.name)
            if group is None:
                group = groups[node.name] = NodeGroup(node)
            owner[slot] = group
        group.positions.append(position)
    return list(groups.values())


def node_connection(cluster: RedisCluster, node: ClusterNode) -> Any:
    """A connection to `node` from its pool; give it back with `release`."""
    pool: Any = cluster.get_redis_connection(node).connection_pool
    return pool.get_connection()


def release(cluster: RedisCluster, node: ClusterNode, connection: Any) -> None:
    """Return a connection taken with `node_connection`."""
    cluster.get_redis_connection(node).connection_pool.release(connection)


def refresh_slot_map(cluster: RedisCluster) -> None:
    """Re-read the slot map after a lost connection (a master may have failed over)."""
    with contextlib.suppress(Exception):  # the next command reports what is still wrong
        cluster.nodes_manager.initialize()


def unframe(parts: Sequence[bytes | memoryview]) -> list[bytes]:
    """The bulk strings of RESP-framed arguments (`$<len>\\r\\n<bytes>\\r\\n` …), as bytes."""
    raw = b"".join(bytes(part) for part in parts)
    items: list[bytes] = []
    position = 0
    while position < len(raw):
        end = raw.index(b"\r\n", position)
        length = int(raw[position + 1 : end])
        items.append(raw[end + 2 : end + 2 + length])
        position = end + 2 + length + 2
    return items
