"""The `featurestore` quality commands: validate, skew, drift (registered on the main app)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from featurestore.cli import DataDirOption, RepoOption, _settings, app, state
from featurestore.console import stdout, warn
from featurestore.settings import Settings

# Feast's config needs an online store even for offline work; nothing connects to this one.
_OFFLINE_ONLY_REDIS = "redis://127.0.0.1:6379/0"


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


FormatOption = Annotated[OutputFormat, typer.Option("--format", help="`text` (a table) or `json`.")]


def _settings_for(output: OutputFormat, data_dir: Path | None, repo: Path | None) -> Settings:
    """The settings; with JSON output, no banner line, so stdout stays parseable."""
    quiet = state.quiet
    state.quiet = quiet or output == OutputFormat.json
    try:
        return _settings(data_dir, repo)
    finally:
        state.quiet = quiet


def _emit_json(payload: Any) -> None:
    typer.echo(json.dumps(payload, indent=2, default=str))


@app.command()
def validate(
    views: Annotated[
        list[str] | None, typer.Option("--view", help="Only this feature view (repeatable).")
    ] = None,
    output: FormatOption = OutputFormat.text,
    data_dir: DataDirOption = None,
    repo: RepoOption = None,
) -> None:
    """Check each view's source against its declared semantics; exit 1 on an error-level rule."""
    from featurestore.quality.gate import validate_store_views
    from featurestore.repo import open_store

    settings = _settings_for(output, data_dir, repo)
    store = open_store(settings, settings.redis_url or _OFFLINE_ONLY_REDIS)
    validations = validate_store_views(store, views)
    if output == "json":
        _emit_json({"views": [validation.to_json() for validation in validations]})
    else:
        table = Table(title="Validation of feature view sources", title_justify="left")
        for column in ("feature view", "rows", "rule", "feature", "count", "level", "result"):
            table.add_column(column, justify="right" if column in ("rows", "count") else "left")
        for validation in validations:
            shown = validation.failures or ()
            if not shown:
                table.add_row(
                    escape(validation.view),
                    f"{validation.rows:,}",
                    "all",
                    "",
                    "",
                    "",
                    "[green]pass[/]",
                )
            for result in shown:
                verdict = "[red]fail[/]" if result.level == "error" else "[yellow]warn[/]"
                table.add_row(
                    escape(validation.view),
                    f"{validation.rows:,}",
                    result.rule,
                    escape(result.feature or ""),
                    f"{result.count:,}",
                    result.level,
                    verdict,
                )
        stdout.print(table)
        for validation in validations:
            if not validation.passed and validation.on_violation == "warn":
                warn(f"`{validation.view}` is tagged on_violation=warn: it is still used.")
    if any(not validation.passed for validation in validations):
        raise typer.Exit(1)
