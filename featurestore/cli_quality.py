"""The `featurestore` quality commands: validate, skew, drift (registered on the main app)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from featurestore.cli import DataDirOption, RepoOption, _moment, _settings, app, state
from featurestore.console import table as print_table
from featurestore.console import warn
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
        print_table(table)
        for validation in validations:
            if not validation.passed and validation.on_violation == "warn":
                warn(f"`{validation.view}` is tagged on_violation=warn: it is still used.")
    if any(not validation.passed for validation in validations):
        raise typer.Exit(1)


@app.command()
def skew(
    training_set: Annotated[
        str | None,
        typer.Option("--training-set", help="Training set whose reference to compare."),
    ] = None,
    replay: Annotated[
        bool,
        typer.Option("--replay", help="Instead, rejoin served vectors point in time, row by row."),
    ] = False,
    since: Annotated[
        str | None, typer.Option("--since", help="Earliest request time (ISO 8601; UTC).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Requests before this time (ISO 8601; UTC).")
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", help="With --replay: at most the first N vectors.")
    ] = None,
    output: FormatOption = OutputFormat.text,
    data_dir: DataDirOption = None,
    repo: RepoOption = None,
) -> None:
    """Compare served feature values with a training set's reference (exit 1 on a breach), or
    with `--replay` rejoin each served vector point in time and compare value by value."""
    from featurestore.quality.skew import training_set_skew
    from featurestore.repo import open_store

    if replay:
        from featurestore.cli_serving import replay_skew

        replay_skew(
            since=since,
            limit=limit,
            as_json=output == OutputFormat.json,
            data_dir=data_dir,
            repo=repo,
        )
        return
    if training_set is None:
        raise typer.BadParameter(
            "pass `--training-set NAME`, or `--replay` to compare row by row",
            param_hint="--training-set",
        )
    settings = _settings_for(output, data_dir, repo)
    store = open_store(settings, settings.redis_url or _OFFLINE_ONLY_REDIS)
    report = training_set_skew(
        store,
        settings.data_dir,
        training_set,
        since=_moment(since, "--since"),
        until=_moment(until, "--until"),
    )
    if output == OutputFormat.json:
        _emit_json(report.to_json())
    else:
        table = Table(
            title=f"Skew of training set {escape(report.training_set)} against "
            f"{report.served_rows:,} served rows",
            title_justify="left",
        )
        for column in ("feature", "metric", "value", "threshold", "result"):
            table.add_column(
                column, justify="right" if column in ("value", "threshold") else "left"
            )
        for figure in report.features:
            table.add_row(
                escape(figure.feature),
                figure.metric,
                "-" if figure.value is None else f"{figure.value:.4f}",
                "-" if figure.threshold is None else f"{figure.threshold:g}",
                "[red]breach[/]" if figure.breached else "ok",
            )
        print_table(table)
        if not report.served_rows:
            warn("No served rows in the serving log for this feature service and period.")
    if report.breached:
        raise typer.Exit(1)


@app.command()
def drift(
    view: Annotated[str, typer.Argument(help="Feature view whose source to follow.")],
    reference: Annotated[
        str | None,
        typer.Option("--reference", help="Training set to compare with (default: first window)."),
    ] = None,
    window: Annotated[str, typer.Option("--window", help="Window: 30m, 6h, 1d, 1w.")] = "1d",
    output: FormatOption = OutputFormat.text,
    data_dir: DataDirOption = None,
    repo: RepoOption = None,
) -> None:
    """PSI and JS distance of a view's offline data per time window against a reference."""
    from featurestore.quality.drift import parse_window, view_drift
    from featurestore.repo import open_store

    span = parse_window(window)
    settings = _settings_for(output, data_dir, repo)
    store = open_store(settings, settings.redis_url or _OFFLINE_ONLY_REDIS)
    report = view_drift(store, settings.data_dir, view, span, reference)
    if output == OutputFormat.json:
        _emit_json(report.to_json())
        return
    refs = sorted({ref for w in report.windows for ref in w.features})
    table = Table(
        title=f"PSI per {window} window of {escape(view)} against the {escape(report.reference)}",
        title_justify="left",
    )
    table.add_column("window (UTC)")
    table.add_column("rows", justify="right")
    for ref in refs:
        table.add_column(escape(ref.partition(":")[2]), justify="right")
    for w in report.windows:
        cells = [w.features[ref][0] for ref in refs]
        table.add_row(
            f"{w.start:%Y-%m-%d %H:%M}",
            f"{w.rows:,}",
            *("-" if psi is None else f"{psi:.3f}" for psi in cells),
        )
    print_table(table)
