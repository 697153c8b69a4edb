"""A throwaway 3-master Redis Cluster on loopback ports, for tests and benchmarks.

Each node is the same `redis-server` binary with `--cluster-enabled yes`; the 16384 slots are
split evenly with `CLUSTER ADDSLOTS` (Redis 6.2 has no ADDSLOTSRANGE) and the nodes meet with
`CLUSTER MEET`. A node also listens on its cluster bus port, port + 10000, so node ports are
picked at or below 55535 with that second port free too.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from redis.exceptions import ResponseError

from featurestore.errors import ServiceError
from featurestore.online.connection import RedisClient, connect
from featurestore.services.process import ManagedProcess, port_is_free
from featurestore.services.redis import EmbeddedRedis

SLOTS = 16384
_BUS_OFFSET = 10000


def _cluster_port() -> int:
    for _ in range(200):
        port = random.randint(20000, 55535 - _BUS_OFFSET)
        if port_is_free(port) and port_is_free(port + _BUS_OFFSET):
            return port
    raise ServiceError("No free port pair (port, port + 10000) for a Redis Cluster node.")


class ClusterNodeRedis(EmbeddedRedis):
    """One cluster-enabled `redis-server`."""

    def _new_process(self) -> ManagedProcess:
        process = super()._new_process()
        work_dir = process.work_dir
        process.command = [
            *process.command,
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            str(Path(work_dir) / "nodes.conf"),
            "--cluster-node-timeout",
            "2000",
        ]
        return process


class EmbeddedRedisCluster:
    """`masters` cluster-enabled servers holding all slots, each with `replicas` replicas
    (`nodes[masters:]`, in master order); `url` is `redis+cluster://…` of the masters."""

    def __init__(self, masters: int = 3, replicas: int = 0, startup_timeout: float = 20.0) -> None:
        self.masters = masters
        count = masters * (1 + replicas)
        self.nodes = [ClusterNodeRedis(port=_cluster_port()) for _ in range(count)]
        self.startup_timeout = startup_timeout

    @property
    def url(self) -> str:
        masters = self.nodes[: self.masters]
        return "redis+cluster://" + ",".join(f"{n.host}:{n.port}" for n in masters)

    def node_url(self, index: int) -> str:
        node = self.nodes[index]
        return f"redis://{node.host}:{node.port}/0"

    def start(self) -> Self:
        try:
            for node in self.nodes:
                node.start()
            self._form()
        except BaseException:
            self.stop()
            raise
        return self

    def _form(self) -> None:
        share = -(-SLOTS // self.masters)
        clients = [connect(self.node_url(i)) for i in range(len(self.nodes))]
        try:
            for index, client in enumerate(clients[: self.masters]):
                first, last = index * share, min((index + 1) * share, SLOTS)
                client.execute_command("CLUSTER ADDSLOTS", *range(first, last))
            for node in self.nodes[1:]:
                clients[0].execute_command("CLUSTER MEET", node.host, node.port)
            deadline = time.monotonic() + self.startup_timeout
            ids = [client.execute_command("CLUSTER MYID") for client in clients]
            for index, client in enumerate(clients[self.masters :]):
                master = ids[index % self.masters]
                while not self._replicates(client, master):
                    if time.monotonic() > deadline:
                        raise ServiceError("A Redis Cluster replica did not attach to its master.")
                    time.sleep(0.05)
            while not all(self._ready(client) for client in clients):
                if time.monotonic() > deadline:
                    raise ServiceError("The Redis Cluster did not reach `cluster_state:ok`.")
                time.sleep(0.05)
        finally:
            for client in clients:
                client.close()

    @staticmethod
    def _replicates(client: RedisClient, master: object) -> bool:
        """Make `client`'s node a replica of `master`, once it has heard of it."""
        try:
            client.execute_command("CLUSTER REPLICATE", master)
        except ResponseError:  # "Unknown node": gossip has not reached it yet
            return False
        return True

    def _ready(self, client: RedisClient) -> bool:
        fields = client.execute_command("CLUSTER INFO")  # redis-py parses it into a dict
        return (
            fields.get("cluster_state") == "ok"
            and fields.get("cluster_known_nodes") == str(len(self.nodes))
            and fields.get("cluster_slots_assigned") == str(SLOTS)
        )

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
