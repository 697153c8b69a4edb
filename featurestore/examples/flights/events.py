"""The example's departure events: one per departed flight, published keyed by origin airport."""

from __future__ import annotations

from pathlib import Path
from typing import Final

import duckdb

from featurestore.errors import SourceDataError
from featurestore.progress import Reporter
from featurestore.replay import ReplayResult, encode_row, replay_table
from featurestore.sql import quote_literal

DEPARTURES_TOPIC: Final = "flights.departures"
"""The topic of the `departures_stream` Kafka source."""
DEPARTURE_KEY: Final = "origin"
DEPARTURE_TIME: Final = "event_timestamp"
DEPARTURE_ORDER: Final = "event_timestamp, flight_id"
"""The order departures are published in (and so arrive in): by departure time, then flight."""


def departure_events_sql(flights: str) -> str:
    """One event per departed flight from a table expression with the `flights` source columns."""
    return (
        "SELECT flight_id, origin, carrier, departed_at AS event_timestamp, dep_delay "
        f"FROM {flights} WHERE departed_at IS NOT NULL"
    )


def departures_query(flights_path: Path) -> str:
    """The departures of the ingested flights, in publication order."""
    if not flights_path.is_file():
        raise SourceDataError(
            f"`{flights_path}` does not exist; run `featurestore ingest flights` first."
        )
    events = departure_events_sql(f"read_parquet({quote_literal(str(flights_path))})")
    return f"SELECT * FROM ({events}) ORDER BY {DEPARTURE_ORDER}"


def departure_events(flights_path: Path, *, limit: int | None = None) -> list[dict[str, object]]:
    """The departures in publication order: by departure time, then flight id."""
    query = departures_query(flights_path)
    if limit is not None:
        query += f" LIMIT {int(limit)}"
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        relation = con.sql(query)
        names = relation.columns
        return [dict(zip(names, row, strict=True)) for row in relation.fetchall()]
    finally:
        con.close()


def encode_event(event: dict[str, object]) -> bytes:
    """The JSON a departure is published as (as `featurestore replay` encodes any row)."""
    return encode_row(list(event), list(event.values()))


def replay_flights(
    flights_path: Path,
    bootstrap_servers: str,
    *,
    topic: str = DEPARTURES_TOPIC,
    speed: float | None = None,
    limit: int | None = None,
    reporter: Reporter | None = None,
) -> ReplayResult:
    """`featurestore replay flights`: the departures keyed by origin, in event-time order."""
    return replay_table(
        departures_query(flights_path),
        bootstrap_servers,
        topic=topic,
        key=DEPARTURE_KEY,
        time_column=DEPARTURE_TIME,
        speed=speed,
        limit=limit,
        reporter=reporter,
        task="Replay departures",
    )
