"""The `featurestore` command: ingest, apply, demo."""

from __future__ import annotations

import gc
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

try:  # recent typer vendors click: its usage errors are these classes, not the `click` package's
    from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
except ImportError:  # pragma: no cover
    from click.exceptions import (  # type: ignore[assignment]
        ClickException,
        NoArgsIsHelpError,
        UsageError,
    )

from featurestore.console import RichReporter, error, say, stderr, stdout, warn
from featurestore.console import table as print_table
from featurestore.errors import (
    ConfigError,
    FeatureStoreError,
    MetadataErrors,
    ObjectNotFoundError,
)
from featurestore.examples import EXAMPLES
from featurestore.online.connection import connect
from featurestore.settings import Settings, load_settings

app = typer.Typer(
    name="featurestore",
    help="Feature store and data catalog: point-in-time training data, online features, rights.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


class _State:
    debug: bool = False
    quiet: bool = False
    config_file: Path | None = None


state = _State()

DataDirOption = Annotated[
    Path | None, typer.Option("--data-dir", help="Data folder (default: settings).")
]
RepoOption = Annotated[
    Path | None, typer.Option("--repo", help="Feature repo folder (default: settings).")
]


@app.callback()
def _main(
    config: Annotated[
        Path | None,
        typer.Option("--config", help=escape("TOML settings file (`[featurestore]` table).")),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Do not print the repo and data dir used.")
    ] = False,
) -> None:
    state.debug = debug
    state.quiet = quiet
    state.config_file = config
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


def _settings(
    data_dir: Path | None = None,
    repo: Path | None = None,
    *,
    need_repo: bool = True,
    as_comment: bool = False,
    **explicit: object,
) -> Settings:
    """The settings, after checking the repo exists; says which repo and data dir it uses
    (as a `#` comment where the output is code to paste)."""
    if repo is not None and not repo.is_dir():
        raise ConfigError(
            "--repo", repo, "no such folder; pass the folder holding feature_store.yaml"
        )
    settings = load_settings(state.config_file, data_dir=data_dir, repo_path=repo, **explicit)
    if need_repo:
        from featurestore.repo import read_repo_yaml

        read_repo_yaml(settings.repo_path)
    if not state.quiet:
        where = f"Repo: {settings.repo_path.resolve()} · " if need_repo else ""
        say(f"{'# ' if as_comment else ''}{where}Data: {settings.data_dir.resolve()}", style="dim")
    return settings


@app.command()
def init(
    directory: Annotated[
        Path, typer.Argument(help="Folder to create the repo in (default: this one).")
    ] = Path("."),
    template: Annotated[
        str,
        typer.Option(
            "--template",
            help=escape(f"`minimal` (your own data) or an example ({', '.join(EXAMPLES)})."),
        ),
    ] = "minimal",
) -> None:
    """Scaffold a feature repo with sample data: `apply` and `training-set` work at once."""
    from featurestore.scaffold import MINIMAL, init_repo

    if template != MINIMAL and template not in EXAMPLES:
        choices = ", ".join(f"`{name}`" for name in (MINIMAL, *EXAMPLES))
        raise typer.BadParameter(
            f"`{template}` is not a template; use one of {choices}", param_hint="--template"
        )
    done = init_repo(directory, template)
    if not state.quiet:
        say(f"Repo: {done.repo_path.resolve()} · Data: {done.data_dir.resolve()}", style="dim")
    for path in done.files:
        say(f"Wrote {path}")
    where = "" if directory.resolve() == Path.cwd().resolve() else f"cd {directory} && "
    say("Next, from that folder:")
    for command in done.next_commands:
        say(f"  {where if command is done.next_commands[0] else ''}{command}")


@app.command()
def ingest(
    what: Annotated[
        str,
        typer.Argument(
            help=escape(
                "A CSV, Parquet or JSON-lines file or glob (with `--source`), or the name of an "
                f"example data set ({', '.join(EXAMPLES)})."
            ),
            metavar="FILE_OR_GLOB|EXAMPLE",
        ),
    ],
    source: Annotated[
        str | None,
        typer.Option("--source", help="The FileSource of the feature repo to load the files into."),
    ] = None,
    data_dir: DataDirOption = None,
    repo: RepoOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Example only: rewrite even if up to date.")
    ] = False,
) -> None:
    """Load files into a source's Parquet, checked against the repo's declared types and
    semantics (rejected rows go to the data dir's `rejects/`), or build the example's sources."""
    if source is not None:
        _ingest_files(what, source, data_dir, repo)
        return
    if what not in EXAMPLES:
        raise typer.BadParameter(
            f"`{what}` is not an example data set; pass `--source NAME` to load it into a "
            f"source of the feature repo, or one of {', '.join(f'`{n}`' for n in EXAMPLES)}",
            param_hint="FILE_OR_GLOB",
        )
    from featurestore.examples import example

    preset = example(what)
    settings = _settings(data_dir, need_repo=False)
    with RichReporter() as reporter:
        lines = preset.ingest(settings.data_dir, reporter=reporter, force=force)
    for line in lines:
        say(line)


def _ingest_files(pattern: str, source: str, data_dir: Path | None, repo: Path | None) -> None:
    from featurestore.ingest.files import ingest_source_files

    settings = _settings(data_dir, repo)
    done = ingest_source_files(settings, pattern, source)
    files = f"{len(done.files)} file(s)"
    say(f"Read {done.rows_read:,} rows from {files} for source `{done.source}`.")
    if done.output is not None:
        say(f"Wrote {done.rows_new:,} new rows to {done.output}.")
    if done.rows_present:
        say(f"{done.rows_present:,} rows were already in the source; left as they are.")
    if done.rejected:
        total = sum(done.rejected.values())
        say(f"Rejected {total:,} rows, kept with their reason in {done.rejects}:")
        for reason, count in done.rejected.items():
            say(f"  {count:>8,}  {reason}")


@app.command()
def apply(repo: RepoOption = None, data_dir: DataDirOption = None) -> None:
    """Validate the repo's catalog metadata and register its definitions."""
    from featurestore.apply import apply_repo
    from featurestore.services import Services

    settings = _settings(data_dir, repo)
    with Services.from_settings(settings, need_redis=True) as services:
        result = apply_repo(settings, services.redis_url)
    counts = ", ".join(f"{n} {kind}(s)" for kind, n in sorted(result.objects.items()))
    stdout.print(f"Applied project [bold]{escape(result.project)}[/]: {counts}.")
    say(f"Registry: {result.registry_path}")
    for line in result.overrides:
        say(line)
    for message in result.warnings:
        warn(message)


def _moment(value: str | None, option: str) -> datetime | None:
    """An ISO 8601 time from the command line; without an offset it is UTC."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"`{value}` is not an ISO 8601 time, e.g. 2013-12-31 or 2013-12-31T23:00:00Z",
            param_hint=option,
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@app.command()
def materialize(
    start: Annotated[
        str | None, typer.Option("--start", help="Earliest event time (ISO 8601; UTC default).")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--end", help="Latest event time (default: now).")
    ] = None,
    incremental: Annotated[
        bool, typer.Option("--incremental", help="Continue each view from its last run's end.")
    ] = False,
    views: Annotated[
        list[str] | None, typer.Option("--view", help="Only this feature view (repeatable).")
    ] = None,
    allow_invalid: Annotated[
        bool, typer.Option("--allow-invalid", help="Use views that fail validation (warn).")
    ] = False,
    data_dir: DataDirOption = None,
    repo: RepoOption = None,
) -> None:
    """Copy the latest value per entity into Redis, in Feast's format, never over newer ones."""
    from featurestore.online.materialize import MaterializationError, materialize_incremental
    from featurestore.online.materialize import materialize as run
    from featurestore.repo import open_store

    if incremental == (start is not None):
        raise typer.BadParameter("give either --start (with an optional --end) or --incremental")
    begin, until = _moment(start, "--start"), _moment(end, "--end") or datetime.now(UTC)
    settings = _settings(data_dir, repo)
    if not settings.redis_url:
        raise MaterializationError(
            "No Redis configured: set FEATURESTORE_REDIS_URL, or run `featurestore demo` "
            "(values written into a Redis that stops with the command would be lost, and the "
            "recorded interval would make later `--incremental` runs skip them)."
        )
    with RichReporter() as reporter:
        store = open_store(settings, settings.redis_url)
        client = connect(settings.redis_url)
        if begin is None:
            done = materialize_incremental(
                store,
                client,
                until,
                views=views,
                reporter=reporter,
                allow_invalid=allow_invalid,
                on_warning=warn,
            )
        else:
            done = run(
                store,
                client,
                begin,
                until,
                views=views,
                reporter=reporter,
                allow_invalid=allow_invalid,
                on_warning=warn,
            )
        client.close()
    table = Table(title=f"Materialized project {escape(store.project)}", title_justify="left")
    for column in ("feature view", "from", "to", "keys", "written", "kept newer", "seconds"):
        table.add_column(
            column, justify="left" if column in ("feature view", "from", "to") else "right"
        )
    for view in done:
        table.add_row(
            escape(view.view),
            f"{view.start:%Y-%m-%d %H:%M}",
            f"{view.end:%Y-%m-%d %H:%M}",
            f"{view.rows:,}",
            f"{view.written:,}",
            f"{view.skipped_older:,}",
            f"{view.seconds:.2f}",
        )
    print_table(table)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option("--host", help="Bind address.")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port.")] = None,
    data_dir: DataDirOption = None,
    repo: RepoOption = None,
) -> None:
    """Serve the HTTP API and the catalog pages (OpenAPI docs at /docs)."""
    import uvicorn

    from featurestore.api import create_app
    from featurestore.services import Services

    settings = _settings(data_dir, repo, api_host=host, api_port=port)
    with Services.from_settings(settings, need_redis=True) as services:
        api = create_app(settings, services.redis_url)
        stdout.print(f"Serving on http://{settings.api_host}:{settings.api_port}")
        stdout.print(f"Catalog: http://{settings.api_host}:{settings.api_port}/")
        # Imports leave ~200k long-lived objects (Feast, pandas): frozen, full collections skip
        # them instead of pausing requests for ~100 ms (measured), which set the p99.
        gc.collect()
        gc.freeze()
        uvicorn.run(api, host=settings.api_host, port=settings.api_port, log_level="warning")


@app.command("training-set")
def training_set(
    name: Annotated[str, typer.Argument(help="Name of the set (its folder under training/).")],
    features: Annotated[
        list[str],
        typer.Option("--features", help="A feature service, or `view:feature` refs (repeat)."),
    ],
    spine: Annotated[str, typer.Option("--spine", help="Parquet file or DuckDB SQL query.")],
    label: Annotated[str, typer.Option("--label", help="Label column of the spine.")],
    event_time: Annotated[
        str, typer.Option("--event-time", help="Event time column of the spine.")
    ] = "event_timestamp",
    split: Annotated[
        str, typer.Option("--split", help="`0.7,0.15,0.15` fractions or `CUT1,CUT2` (UTC).")
    ] = "0.7,0.15,0.15",
    group_key: Annotated[
        str | None, typer.Option("--group-key", help="Column whose values never span splits.")
    ] = None,
    purpose: Annotated[str, typer.Option("--purpose", help="Why the data is used.")] = "training",
    as_known_at: Annotated[
        bool,
        typer.Option("--as-known-at/--no-as-known-at", help="Hide rows created after t."),
    ] = True,
    allow_invalid: Annotated[
        bool, typer.Option("--allow-invalid", help="Use views that fail validation (warn).")
    ] = False,
    data_dir: DataDirOption = None,
    repo: RepoOption = None,
) -> None:
    """Write point-in-time correct train/validation/test splits with a manifest."""
    from featurestore.repo import open_store
    from featurestore.services import Services
    from featurestore.training import SplitSpec, TrainingSetRequest, build_training_set

    settings = _settings(data_dir, repo)
    request = TrainingSetRequest(
        name=name,
        features=features[0] if len(features) == 1 and ":" not in features[0] else features,
        spine=spine,
        label=label,
        event_timestamp_column=event_time,
        split=SplitSpec.parse(split),
        group_key=group_key,
        purpose=purpose,
        as_known_at=as_known_at,
        allow_invalid=allow_invalid,
    )
    with Services.from_settings(settings, need_redis=True) as services, RichReporter() as reporter:
        store = open_store(settings, services.redis_url)
        result = build_training_set(
            store,
            request,
            settings.data_dir / "training",
            reporter=reporter,
            data_dir=settings.data_dir,
        )
    for message in result.warnings:
        warn(message)
    rows = ", ".join(f"{split_name} {count:,}" for split_name, count in result.rows.items())
    stdout.print(
        f"Wrote training set [bold]{escape(name)}[/]: {rows} rows, {len(result.features)} features."
    )
    shares = ", ".join(f"{split} {share:.1%}" for split, share in result.fractions.items())
    say(f"Achieved split of the spine: {shares}.")
    if result.duplicates_dropped:
        stdout.print(f"Dropped {result.duplicates_dropped:,} exact duplicate spine rows.")
    if result.purged_rows:
        stdout.print(
            f"Purged {result.purged_rows:,} rows of groups that continue in a later split."
        )
    say(f"Manifest: {result.manifest_path}")


@app.command()
def stream(
    view: Annotated[
        list[str] | None,
        typer.Option("--view", help="Stream feature view to serve, repeatable (default: all)."),
    ] = None,
    topic: Annotated[
        str | None, typer.Option("--topic", help="Topic (default: the views' source topic).")
    ] = None,
    group: Annotated[
        str | None,
        typer.Option("--group", help="Consumer group (default: featurestore.<view>+<view>…)."),
    ] = None,
    log_dir: Annotated[
        Path | None,
        typer.Option("--log-dir", help="Offline logs folder (default: <data dir>/stream)."),
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option("--metrics-port", help="Serve Prometheus /metrics here.")
    ] = None,
    metrics_host: Annotated[
        str, typer.Option("--metrics-host", help="Address of the metrics endpoint.")
    ] = "127.0.0.1",
    until_caught_up: Annotated[
        bool, typer.Option("--until-caught-up", help="Exit once all partitions are read.")
    ] = False,
    checkpoint_seconds: Annotated[
        float, typer.Option("--checkpoint-seconds", help="Most time between checkpoints.")
    ] = 1.0,
    data_dir: DataDirOption = None,
    repo: RepoOption = None,
) -> None:
    """Keep stream feature views fresh: Kafka events → Redis and the offline logs; SIGTERM stops."""
    from streaming.service import stream_from_settings

    stats = stream_from_settings(
        _settings(data_dir, repo),
        views=view,
        topic=topic,
        group_id=group,
        offline_log_dir=log_dir,
        metrics_port=metrics_port,
        metrics_host=metrics_host,
        stop_when_caught_up=until_caught_up,
        checkpoint_seconds=checkpoint_seconds,
    )
    stdout.print(
        f"Consumed {stats.consumed:,} events: {stats.written:,} written, "
        f"{stats.dead_lettered:,} dead-lettered, {stats.checkpoints:,} checkpoints."
    )


@app.command()
def replay(
    example_name: Annotated[
        str | None,
        typer.Argument(
            help=f"An example data set to replay ({', '.join(EXAMPLES)}); or use `--from`.",
            metavar="EXAMPLE",
        ),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option("--from", help="A Parquet file or glob, or a DuckDB SQL query, to publish."),
    ] = None,
    topic: Annotated[
        str | None, typer.Option("--topic", help="Topic to publish to (an example has one).")
    ] = None,
    key: Annotated[
        str | None, typer.Option("--key", help="Column whose value is each message's key.")
    ] = None,
    time_column: Annotated[
        str | None,
        typer.Option("--time", help="Event-time column: publish in its order (needed by --speed)."),
    ] = None,
    speed: Annotated[
        float | None, typer.Option("--speed", help="Event-time seconds per second (default: max).")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="Publish only the first N.")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Publish a table to Kafka as keyed JSON events (`--from … --topic … --key …`), or an
    example data set's events."""
    from featurestore.errors import ConfigError

    if (source is None) == (example_name is None):
        raise typer.BadParameter(
            "pass either an example name or `--from PARQUET_OR_SQL --topic T --key COL`",
            param_hint="EXAMPLE",
        )
    settings = _settings(data_dir, need_repo=False)
    if not settings.kafka_bootstrap_servers:
        raise ConfigError("kafka_bootstrap_servers", None, "replay publishes to a running Kafka")
    with RichReporter() as reporter:
        if source is not None:
            from featurestore.replay import replay_table

            if topic is None or key is None:
                raise typer.BadParameter(
                    "`--from` needs `--topic` and `--key`", param_hint="--from"
                )
            result = replay_table(
                source,
                settings.kafka_bootstrap_servers,
                topic=topic,
                key=key,
                time_column=time_column,
                speed=speed,
                limit=limit,
                reporter=reporter,
            )
        else:
            from featurestore.examples import example

            preset = example(str(example_name))
            topic = topic or preset.DEFAULT_TOPIC
            result = preset.replay(
                settings.data_dir,
                settings.kafka_bootstrap_servers,
                topic=topic,
                speed=speed,
                limit=limit,
                reporter=reporter,
            )
    span = (
        f" (event times {result.first_event} … {result.last_event})" if result.first_event else ""
    )
    stdout.print(
        f"Published {result.published:,} events to {topic} in {result.seconds:.1f} s{span}."
    )


@app.command()
def demo(data_dir: DataDirOption = None) -> None:
    """Run the whole path on the example data with embedded services, on its bundled repo."""
    from featurestore.examples import DEMO, example

    shown = example(DEMO)
    settings = _settings(data_dir, shown.bundled_repo())
    with RichReporter() as reporter:
        summary = shown.run_demo(settings, reporter)
    for item in shown.demo_report(summary):
        stdout.print(item)


catalog_app = typer.Typer(help="The catalog's registered metadata.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")


@catalog_app.command("export")
def catalog_export(
    only: Annotated[
        str | None,
        typer.Option("--object", help="Only this object, as KIND/NAME (e.g. feature_view/x)."),
    ] = None,
    prune: Annotated[
        bool,
        typer.Option("--prune", help="Drop registered values the definitions now equal."),
    ] = False,
    repo: RepoOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Print registered metadata as code to paste into the definitions (or prune it)."""
    from featurestore.catalog.export import export_code, prune_repo, select
    from featurestore.catalog.ledger import Ledger
    from featurestore.catalog.registered import RegisteredStore, catalog_path
    from featurestore.inventory import catalog_objects
    from featurestore.repo import load_definitions

    selected = None
    if only is not None:
        kind, _, name = only.partition("/")
        if not name:
            raise typer.BadParameter(
                f"`{only}` is not KIND/NAME, e.g. `feature_view/customer_daily_stats`",
                param_hint="--object",
            )
        selected = (kind, name)
    settings = _settings(data_dir, repo, as_comment=True)
    objects = select(catalog_objects(load_definitions(settings)), selected)
    if selected is not None and not objects:
        raise ObjectNotFoundError(selected[0].replace("_", " "), selected[1])
    store = RegisteredStore(Ledger(catalog_path(settings.data_dir)))
    if prune:
        for dropped in prune_repo(objects, store):
            stdout.print(
                f"Dropped registered {', '.join(dropped.keys)} of {dropped.kind} "
                f"`{dropped.name}`: the definitions say the same.",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        return
    code = export_code(objects, store.layer())
    stdout.print(code, end="", markup=False, highlight=False, soft_wrap=True)


def main() -> None:
    """Console entry point: one red line per error, tracebacks only with --debug."""
    debug = "--debug" in sys.argv[1:]
    if not debug:
        # Feast, ibis and kafka-python warn about their own internals, which users cannot act
        # on; Feast also resets warning filters on import, so route warnings to a quiet logger.
        logging.captureWarnings(True)
        logging.getLogger("py.warnings").setLevel(logging.CRITICAL)
    try:
        # Not standalone: usage errors come here, to be told in the one error line below.
        code = app(prog_name="featurestore", standalone_mode=False)
    except NoArgsIsHelpError as exc:
        typer.echo(exc.ctx.get_help() if exc.ctx else "")
        sys.exit(0)
    except ClickException as exc:
        # A bad option or argument: a user error like any other, so one line and exit 1.
        usage = (
            f" See `{exc.ctx.command_path} --help`."
            if isinstance(exc, UsageError) and exc.ctx
            else ""
        )
        error(f"{exc.format_message().rstrip('.')}.{usage}")
        sys.exit(1)
    except FeatureStoreError as exc:
        if debug:
            raise
        error(exc)
        if isinstance(exc, MetadataErrors):
            for problem in exc.errors[1:]:
                error(problem, prefix="  also: ")
        sys.exit(1)
    except (KeyboardInterrupt, typer.Abort):
        stderr.print("Interrupted.")
        sys.exit(130)
    except Exception as exc:
        if debug:
            raise
        error(f"unexpected {type(exc).__name__}: {exc} (rerun with --debug)")
        sys.exit(1)
    if isinstance(code, int) and code:
        sys.exit(code)


from featurestore import cli_quality as _quality_commands  # noqa: E402, F401  (registers them)
from featurestore import cli_serving as _serving_commands  # noqa: E402, F401  (registers them)
