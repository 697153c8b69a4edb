"""`featurestore demo`: the whole path on real data with embedded services, end to end."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
from feast import FeatureStore
from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table

from featurestore.apply import apply_repo
from featurestore.examples.flights.ingest import ingest_flights
from featurestore.online.client import OnlineClient
from featurestore.online.connection import connect
from featurestore.online.materialize import materialize
from featurestore.progress import Reporter, SilentReporter
from featurestore.repo import open_store
from featurestore.services import Services
from featurestore.settings import Settings
from featurestore.sql import quote_literal
from featurestore.training import TrainingSetRequest, build_training_set

if TYPE_CHECKING:
    from featurestore.examples.flights.streaming_step import StreamingDemo
    from featurestore.quality.replay import ReplayReport

logger = logging.getLogger(__name__)

FEATURE_SERVICE = "delay_model_v1"
BUNDLED_REPO = Path(__file__).resolve().parents[3] / "feature_repo"
LABEL = "arrived_delayed_15"
# Feast materializes rows whose event time falls in [start, end]; the data covers 2013.
MATERIALIZE_START = datetime(2012, 12, 31, tzinfo=UTC)
SERVED_ONE_IN = 2000
"""The demo serves one flight in this many (by id) at its own 2013 time, then replays them."""


@dataclass(frozen=True)
class ServedHistory:
    """The flights served at a simulated clock, and their row-level replay."""

    requests: int
    first_request: datetime | None
    last_request: datetime | None
    replay: ReplayReport


@dataclass
class DemoSummary:
    """What the demo did, for the CLI to print and tests to check."""

    data_dir: Path
    registry_path: Path
    training_set_dir: Path
    training_manifest: Path
    split_rows: dict[str, int]
    training_rows: int
    label_rate: float
    features: list[str]
    duplicates_dropped: int
    hidden_by_knowledge_time: dict[str, int]
    online_entity: dict[str, Any]
    online_features: dict[str, Any]
    online_freshness: dict[str, tuple[str, datetime | None]] = field(default_factory=dict)
    """Per online feature: its status (PRESENT, NOT_FOUND or EXPIRED) and event time."""
    started_services: list[str] = field(default_factory=list)
    streaming: StreamingDemo | None = None
    """The streaming step: departures replayed to Kafka, consumed, read back online."""
    served_history: ServedHistory | None = None
    """A sample of the flights served at their own times, replayed through the join."""
    seconds: float = 0.0


def bundled_repo() -> Path:
    """The flights example repo shipped beside the package: only the demo and presets use it."""
    from featurestore.errors import ConfigError

    if not (BUNDLED_REPO / "feature_store.yaml").is_file():
        raise ConfigError(
            "repo_path",
            BUNDLED_REPO,
            "the flights example repo is not installed; run the demo from a source checkout",
        )
    return BUNDLED_REPO


def flights_spine_sql(flights_path: Path) -> str:
    """The entity spine of the delay model: every flight with a known arrival, at its departure."""
    return f"""
        SELECT flight_id, origin, carrier, tailnum, origin || '-' || dest AS route,
               scheduled_departure AS event_timestamp, {LABEL}
        FROM read_parquet({quote_literal(str(flights_path))})
        WHERE {LABEL} IS NOT NULL
    """


def run_demo(settings: Settings, reporter: Reporter | None = None) -> DemoSummary:
    """Ingest → apply → stream → training set → materialize → online read; stops its services."""
    reporter = reporter or SilentReporter()
    began = time.perf_counter()
    with Services.from_settings(settings, need_redis=True, need_kafka=True) as services:
        ingested = ingest_flights(
            settings.data_dir, repo_path=settings.repo_path, reporter=reporter
        )
        reporter.start("apply definitions")
        applied = apply_repo(settings, services.redis_url)
        reporter.finish("apply definitions")
        streamed = _stream_departures(settings, services, reporter)
        store = open_store(settings, services.redis_url)
        service = store.get_feature_service(FEATURE_SERVICE)

        spine = flights_spine_sql(ingested.paths["flights"])
        training = build_training_set(
            store,
            TrainingSetRequest(
                name=FEATURE_SERVICE, features=FEATURE_SERVICE, spine=spine, label=LABEL
            ),
            settings.data_dir / "training",
            reporter=reporter,
        )

        served = _serve_history(store, settings, f"{spine} AND flight_id % {SERVED_ONE_IN} = 0")
        client = connect(services.redis_url)
        materialize(store, client, MATERIALIZE_START, datetime.now(UTC), reporter=reporter)
        entity = _last_flight_entity(ingested.paths["flights"])
        online = OnlineClient(store, client, purpose="serving").get(service, [entity])
        client.close()

    return DemoSummary(
        data_dir=settings.data_dir.resolve(),
        registry_path=applied.registry_path,
        training_set_dir=training.directory.resolve(),
        training_manifest=training.manifest_path.resolve(),
        split_rows=training.rows,
        training_rows=sum(training.rows.values()),
        label_rate=_label_rate(training.paths.values()),
        features=training.features,
        duplicates_dropped=training.duplicates_dropped,
        hidden_by_knowledge_time=training.hidden_by_knowledge_time,
        online_entity=entity,
        online_features={name: values[0] for name, values in online.values.items()},
        online_freshness={
            name: (online.statuses[name][0].value, online.event_timestamps[name][0])
            for name in online.values
        },
        started_services=services.started_names,
        streaming=streamed,
        served_history=served,
        seconds=time.perf_counter() - began,
    )


def _serve_history(store: FeatureStore, settings: Settings, spine: str) -> ServedHistory:
    """Serve the spine at its own times from a private Redis (the online store keeps today's
    values), log every vector, and replay them through the point-in-time join. The log is the
    demo's own (`demo/serving_log` in the data dir), replaced on a rerun so it reports the same;
    `featurestore simulate-serving` writes the data dir's serving log."""
    import shutil

    from featurestore.quality.replay import replay_serving_log
    from featurestore.quality.simulate import simulate_serving
    from featurestore.services import EmbeddedRedis

    log_dir = settings.data_dir / "demo" / "serving_log"
    shutil.rmtree(log_dir, ignore_errors=True)
    with EmbeddedRedis() as server:
        client = connect(server.url)
        try:
            result = simulate_serving(store, client, FEATURE_SERVICE, spine, log_dir=log_dir)
        finally:
            client.close()
    return ServedHistory(
        requests=result.requests,
        first_request=result.first_request,
        last_request=result.last_request,
        replay=replay_serving_log(store, log_dir, examples=1),
    )


def _label_rate(paths: Iterable[Path]) -> float:
    """Share of positive labels over the training set's split files."""
    files = ", ".join(quote_literal(str(path)) for path in paths)
    with duckdb.connect() as con:  # its own connection: a fetchone leaves the result open
        row = con.execute(f"SELECT avg({LABEL}::DOUBLE) FROM read_parquet([{files}])").fetchone()
    return float(row[0]) if row and row[0] is not None else 0.0


def _last_flight_entity(flights_path: Path) -> dict[str, Any]:
    """The entity keys of the last scheduled flight from JFK, to read online."""
    with duckdb.connect() as con:
        row = con.execute(
            f"""
            SELECT origin, carrier, tailnum, origin || '-' || dest AS route
            FROM read_parquet({quote_literal(str(flights_path))})
            WHERE origin = 'JFK' AND tailnum IS NOT NULL
            ORDER BY scheduled_departure DESC, flight_id DESC LIMIT 1
            """
        ).fetchone()
    assert row is not None, "flights.parquet has no JFK flight"
    return dict(zip(("origin", "carrier", "tailnum", "route"), row, strict=True))


def _stream_departures(
    settings: Settings, services: Services, reporter: Reporter
) -> StreamingDemo | None:
    """Replay a slice of departures through Kafka and the consumer (before materializing, so
    Redis shows the streamed windows rather than newer batch values)."""
    from featurestore.examples.flights.streaming_step import run_streaming_step

    servers = services.kafka_bootstrap_servers
    if servers is None:
        return None
    return run_streaming_step(settings, services.redis_url, servers, reporter)


def demo_report(summary: DemoSummary) -> list[RenderableType]:
    """What `featurestore demo` prints: rich markup lines and tables."""
    out: list[RenderableType] = [f"\n[bold green]Demo finished[/] in {summary.seconds:.1f} s."]
    splits = ", ".join(f"{name} {rows:,}" for name, rows in summary.split_rows.items())
    out.append(
        f"Training set: {summary.training_rows:,} flights × {len(summary.features)} features "
        f"({splits}), {summary.label_rate:.1%} arrived more than 15 min late."
    )
    out.append(escape(f"  files and manifest: {summary.training_set_dir}"))
    hidden = {k: v for k, v in summary.hidden_by_knowledge_time.items() if v}
    if hidden:
        parts = ", ".join(f"{view}: {n:,} rows" for view, n in hidden.items())
        out.append(escape(f"Values not yet published at a flight's time, hence hidden: {parts}"))
    keys = ", ".join(f"{k}={v}" for k, v in summary.online_entity.items())
    table = Table(title=f"Online features from Redis for {keys}", title_justify="left")
    table.add_column("feature")
    table.add_column("value", justify="right")
    table.add_column("status")
    table.add_column("event time (UTC)")
    for name, value in sorted(summary.online_features.items()):
        status, event_time = summary.online_freshness.get(name, ("", None))
        stamp = f"{event_time:%Y-%m-%d %H:%M}" if event_time else ""
        table.add_row(name, "null" if value is None else f"{value:.6g}", status, stamp)
    out.append(table)
    out.append("EXPIRED: older than its view's ttl (the example data ends in 2013).")
    out.append(escape(f"Data: {summary.data_dir}"))
    out.append(escape(f"Registry: {summary.registry_path}"))
    if summary.streaming is not None:
        out.append(_streaming_table(summary.streaming))
    out.extend(_served_history_lines(summary.served_history))
    if summary.started_services:
        out.append(f"Stopped embedded {', '.join(summary.started_services)}.")
    out.append(
        "Next: `featurestore init` scaffolds a repo for your own data (README: Your own data)."
    )
    return out


def _served_history_lines(history: ServedHistory | None) -> list[RenderableType]:
    if history is None or history.first_request is None or history.last_request is None:
        return []
    replay = history.replay
    compared = sum(feature.compared for feature in replay.features)
    mismatches = sum(feature.mismatches for feature in replay.features)
    lines: list[RenderableType] = [
        f"Served {history.requests:,} flights at their own 2013 times "
        f"({history.first_request:%Y-%m-%d} … {history.last_request:%Y-%m-%d}) and replayed "
        f"them through the point-in-time join: {mismatches:,} of {compared:,} values differ."
    ]
    for feature in replay.mismatched:
        causes = ", ".join(f"{cause} {n:,}" for cause, n in feature.causes.items())
        lines.append(escape(f"  {feature.feature}: {feature.mismatches:,} ({causes})"))
    return lines


def _streaming_table(streamed: StreamingDemo) -> Table:
    table = Table(
        title=f"Streamed {streamed.consumed:,} departures through Kafka in "
        f"{streamed.seconds:.1f} s; online per origin",
        title_justify="left",
    )
    for column in ("origin", "departures_60m", "mean_dep_delay_60m", "as of (UTC)", "status"):
        table.add_column(column, justify="right" if column.startswith(("dep", "mean")) else "left")
    for window in streamed.windows:
        mean = window.mean_dep_delay_60m
        table.add_row(
            window.origin,
            str(window.departures_60m),
            "null" if mean is None else f"{mean:.1f}",
            f"{window.event_timestamp:%Y-%m-%d %H:%M}" if window.event_timestamp else "-",
            window.status,
        )
    return table
