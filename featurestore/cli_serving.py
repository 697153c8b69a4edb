"""The `featurestore` commands about what was served: simulate-serving, skew --replay, monitor.

Registered on the main app when `featurestore.cli` is imported."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from featurestore.cli import DataDirOption, RepoOption, _moment, _settings, app, state
from featurestore.console import RichReporter, say, stdout
from featurestore.settings import Settings

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# Feast's config needs an online store even for offline work; nothing connects to this one.
_OFFLINE_ONLY_REDIS = "redis://127.0.0.1:6379/0"


def parse_duration(text: str, option: str) -> timedelta:
    """A duration such as `30s`, `5m`, `1h`, `1d` or `2w`."""
    match = _DURATION.match(text)
    if match is None or float(match.group(1)) <= 0:
        raise typer.BadParameter(
            f"`{text}` is not a positive duration; write e.g. `30s`, `5m`, `1h` or `1d`",
            param_hint=option,
        )
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


def _quiet_settings(as_json: bool, data_dir: Path | None, repo: Path | None) -> Settings:
    """The settings; with JSON output no banner line, so stdout stays parseable."""
    quiet = state.quiet
    state.quiet = quiet or as_json
    try:
        return _settings(data_dir, repo)
    finally:
        state.quiet = quiet


@app.command("simulate-serving")
def simulate_serving(
    feature_service: Annotated[
        str, typer.Option("--feature-service", help="The feature service to serve.")
    ],
    spine: Annotated[
        str, typer.Option("--spine", help="Parquet file or DuckDB SQL query: keys and times.")
    ],
    limit: Annotated[
        int | None, typer.Option("--limit", help="Serve only the first N rows by time.")
    ] = None,
    step: Annotated[
        str | None,
        typer.Option("--step", help="Materialize every STEP (e.g. 1h); default: every request."),
    ] = None,
    event_time: Annotated[
        str, typer.Option("--event-time", help="Time column of the spine (the request time).")
    ] = "event_timestamp",
    log_dir: Annotated[
        Path | None, typer.Option("--log-dir", help="Serving log folder (default: data dir's).")
    ] = None,
    data_dir: DataDirOption = None,
    repo: RepoOption = None,
) -> None:
    """Replay a spine as live traffic at its own times; every served vector goes to the log.

    The online store is a private, embedded Redis: history never reaches the live one."""
    from featurestore.online.connection import connect
    from featurestore.quality.serving import serving_log_dir
    from featurestore.quality.simulate import simulate_serving as run
    from featurestore.repo import open_store
    from featurestore.services import EmbeddedRedis

    every = parse_duration(step, "--step") if step is not None else None
    settings = _settings(data_dir, repo)
    target = log_dir or serving_log_dir(settings.data_dir)
    with EmbeddedRedis() as server, RichReporter() as reporter:
        store = open_store(settings, server.url)
        client = connect(server.url)
        try:
            result = run(
                store,
                client,
                feature_service,
                spine,
                log_dir=target,
                event_timestamp_column=event_time,
                limit=limit,
                step=every,
                reporter=reporter,
            )
        finally:
            client.close()
    span = (
        f"{result.first_request:%Y-%m-%d %H:%M} … {result.last_request:%Y-%m-%d %H:%M}"
        if result.first_request and result.last_request
        else "no requests"
    )
    stdout.print(
        f"Served {result.requests:,} requests of [bold]{escape(feature_service)}[/] ({span}) "
        f"at {result.ticks:,} clock ticks in {result.seconds:.1f} s."
    )
    statuses = ", ".join(f"{name} {count:,}" for name, count in result.statuses.items())
    say(f"Values served: {statuses}.")
    if result.stream_views:
        say(
            f"Stream view(s) {', '.join(result.stream_views)} fed from their offline rows as "
            "they became known."
        )
    say(f"Serving log: {result.log_dir} ({result.logged:,} vectors).")


def replay_skew(
    *,
    since: str | None,
    limit: int | None,
    as_json: bool,
    data_dir: Path | None,
    repo: Path | None,
) -> None:
    """`featurestore skew --replay`: served vectors rejoined point in time, value by value."""
    from featurestore.quality.replay import CAUSES, replay_serving_log
    from featurestore.quality.serving import serving_log_dir
    from featurestore.repo import open_store

    settings = _quiet_settings(as_json, data_dir, repo)
    store = open_store(settings, settings.redis_url or _OFFLINE_ONLY_REDIS)
    report = replay_serving_log(
        store, serving_log_dir(settings.data_dir), since=_moment(since, "--since"), limit=limit
    )
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2, default=str))
        return
    table = Table(
        title=f"Served vectors replayed point in time: {report.replayed_rows:,}",
        title_justify="left",
    )
    for column in ("feature", "compared", "mismatches", "rate", "likely cause"):
        left = column in ("feature", "likely cause")
        table.add_column(column, justify="left" if left else "right")
    for feature in report.features:
        causes = ", ".join(f"{cause} {n:,}" for cause, n in feature.causes.items())
        table.add_row(
            escape(feature.feature),
            f"{feature.compared:,}",
            f"{feature.mismatches:,}",
            f"{feature.mismatch_rate:.1%}",
            escape(causes),
        )
    stdout.print(table)
    seen = {cause for feature in report.features for cause in feature.causes}
    for cause in sorted(seen):
        say(f"{cause}: {CAUSES[cause]}.")
    for feature in report.mismatched:
        example = feature.examples[0]
        say(
            f"{feature.feature}: e.g. {json.dumps(example.entity)} at "
            f"{example.request_time:%Y-%m-%d %H:%M} served {example.served_value!r} "
            f"(event {example.served_event_timestamp}) vs offline {example.offline_value!r} "
            f"(event {example.offline_event_timestamp})."
        )
    if report.skipped_rows:
        say(f"Skipped {report.skipped_rows:,} vectors served without a feature service.")


@app.command()
def monitor(
    interval: Annotated[
        str, typer.Option("--interval", help="Time between refreshes (e.g. 30s, 5m, 1h).")
    ] = "5m",
    port: Annotated[int, typer.Option("--port", help="Serve Prometheus /metrics here.")] = 9109,
    host: Annotated[str, typer.Option("--host", help="Address of the metrics endpoint.")] = (
        "127.0.0.1"
    ),
    replay_rows: Annotated[
        int, typer.Option("--replay-rows", help="Recent served vectors replayed per refresh.")
    ] = 10_000,
    training_sets: Annotated[
        list[str] | None,
        typer.Option("--training-set", help="Also compare with this set's reference (repeat)."),
    ] = None,
    once: Annotated[
        bool, typer.Option("--once", help="Refresh once, print the metrics and exit.")
    ] = False,
    data_dir: DataDirOption = None,
    repo: RepoOption = None,
) -> None:
    """Refresh validation, skew and freshness figures and export them as Prometheus gauges."""
    import time

    from prometheus_client import generate_latest

    from featurestore.online.connection import connect
    from featurestore.quality.monitor import QualityMonitor
    from featurestore.quality.serving import serving_log_dir
    from featurestore.repo import open_store

    every = parse_duration(interval, "--interval")
    settings = _quiet_settings(once, data_dir, repo)
    store = open_store(settings, settings.redis_url or _OFFLINE_ONLY_REDIS)
    client = connect(settings.redis_url) if settings.redis_url else None
    quality = QualityMonitor(
        store,
        serving_log_dir(settings.data_dir),
        client,
        replay_rows=replay_rows,
        training_sets=tuple(training_sets or ()),
    )
    if once:
        quality.refresh()
        typer.echo(generate_latest(quality.registry()).decode(), nl=False)
        return
    quality.serve(port, host)
    stdout.print(f"Quality metrics on http://{host}:{port}/metrics, refreshed every {interval}.")
    try:
        while True:
            snap = quality.refresh()
            for part, problem in snap.errors.items():
                say(f"{part}: {problem}", style="yellow")
            time.sleep(every.total_seconds())
    finally:
        if client is not None:
            client.close()
