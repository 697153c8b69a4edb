"""Progress reporting for long work: the library reports through a reporter it is given."""

from __future__ import annotations

from typing import Protocol


class Reporter(Protocol):
    """Receives progress of long-running work; the CLI passes a rich progress bar."""

    def start(self, task: str, total: int | None = None) -> None:
        """A unit of work named `task` begins, with `total` steps if known."""

    def advance(self, task: str, steps: int = 1) -> None:
        """`task` made `steps` more steps of progress."""

    def finish(self, task: str) -> None:
        """`task` is done."""


class SilentReporter:
    """The library default: reports nothing."""

    def start(self, task: str, total: int | None = None) -> None:
        pass

    def advance(self, task: str, steps: int = 1) -> None:
        pass

    def finish(self, task: str) -> None:
        pass
