"""Terminal output for the CLI: plain messages with markup escaped, and a rich progress bar
that implements the library's Reporter.

Library messages name things like `fields[spend_7d].tags[unit]`; rich would read the brackets
as markup and drop them, so every message from the library goes through `escape` here."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

stdout = Console()
stderr = Console(stderr=True)


def say(text: object, *, style: str | None = None) -> None:
    """One line of library text on stdout, brackets and all."""
    stdout.print(escape(str(text)), style=style, highlight=False, soft_wrap=True)


def table(rows: Table) -> None:
    """A table on stdout at its natural width: one line per row even on a narrow terminal or a
    pipe, so its rows stay whole for people and for grep."""
    natural = Measurement.get(stdout, stdout.options.update(width=10_000), rows).maximum
    fixed = stdout._width  # None: the width follows the terminal and `COLUMNS`
    stdout.width = max(stdout.width, natural)  # `print(width=)` can only narrow
    try:
        stdout.print(rows)
    finally:
        stdout._width = fixed


def warn(text: object) -> None:
    """A yellow `Warning:` line on stderr; the message's own brackets survive."""
    stderr.print(f"[yellow]Warning:[/] {escape(str(text))}", highlight=False, soft_wrap=True)


def error(text: object, *, prefix: str = "[bold red]Error:[/] ") -> None:
    """A red `Error:` line on stderr; the message's own brackets survive."""
    stderr.print(f"{prefix}{escape(str(text))}", highlight=False, soft_wrap=True)


class RichReporter:
    """Shows each task of long work as a progress bar on stderr."""

    def __init__(self, console: Console = stderr) -> None:
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}
        self._totals: dict[str, int | None] = {}

    def __enter__(self) -> RichReporter:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def start(self, task: str, total: int | None = None) -> None:
        self._tasks[task] = self._progress.add_task(task, total=total)
        self._totals[task] = total

    def advance(self, task: str, steps: int = 1) -> None:
        if task not in self._tasks:
            self.start(task)
        self._progress.advance(self._tasks[task], steps)

    def finish(self, task: str) -> None:
        task_id = self._tasks.get(task)
        if task_id is not None:
            total = self._totals[task] or 1
            self._progress.update(task_id, total=total, completed=total)
