"""Feature views and the feature service of the flights domain."""

from datetime import timedelta

from feast import Aggregation, FeatureService, FeatureView, Field, StreamFeatureView
from feast.types import Float64, Int64, String

from featurestore.definitions import rights, semantics
from flights_entities import OWNER, airport, carrier, plane, route
from flights_sources import (
    carrier_stats_source,
    departures_stream,
    planes_source,
    routes_source,
    weather_source,
)

OPEN_DATA = rights(license="CC0-1.0", pii="none", purposes="training,serving,analytics,research")

weather_hourly = FeatureView(
    name="weather_hourly",
    entities=[airport],
    ttl=timedelta(hours=2),
    schema=[
        Field(
            name="temp",
            dtype=Float64,
            description="Air temperature.",
            tags=semantics(unit="degF", min=-40, max=120),
        ),
        Field(
            name="dewp",
            dtype=Float64,
            description="Dew point.",
            tags=semantics(unit="degF", min=-60, max=90),
        ),
        Field(
            name="humid",
            dtype=Float64,
            description="Relative humidity.",
            tags=semantics(unit="percent", min=0, max=100),
        ),
        Field(
            name="wind_speed",
            dtype=Float64,
            description="Wind speed.",
            tags=semantics(unit="mph", min=0, max=250),
        ),
        Field(
            name="wind_gust",
            dtype=Float64,
            description="Wind gust speed.",
            tags=semantics(unit="mph", min=0, max=300),
        ),
        Field(
            name="precip",
            dtype=Float64,
            description="Precipitation in the hour.",
            tags=semantics(unit="inch", min=0, max=10),
        ),
        Field(
            name="pressure",
            dtype=Float64,
            description="Sea level pressure.",
            tags=semantics(unit="mbar", min=900, max=1100),
        ),
        Field(
            name="visib",
            dtype=Float64,
            description="Visibility.",
            tags=semantics(unit="mile", min=0, max=10),
        ),
    ],
    source=weather_source,
    online=True,
    owner=OWNER,
    description="Latest hourly weather at the departure airport, as published (10 minutes after "
    "the hour); older than 2 hours counts as missing.",
    tags=OPEN_DATA,
)

plane_attributes = FeatureView(
    name="plane_attributes",
    entities=[plane],
    ttl=timedelta(0),
    schema=[
        Field(
            name="year_built",
            dtype=Int64,
            description="Year the aircraft was manufactured.",
            tags=semantics(unit="year", min=1950, max=2013),
        ),
        Field(
            name="seats",
            dtype=Int64,
            description="Number of seats.",
            tags=semantics(unit="count", min=1, max=1000),
        ),
        Field(
            name="engines",
            dtype=Int64,
            description="Number of engines.",
            tags=semantics(unit="count", min=1, max=8),
        ),
        Field(
            name="manufacturer",
            dtype=String,
            description="Aircraft manufacturer.",
            tags=semantics(),
        ),
        Field(
            name="engine",
            dtype=String,
            description="Engine type.",
            tags=semantics(
                allowed="Turbo-fan,Turbo-jet,Turbo-prop,Reciprocating,4 Cycle,Turbo-shaft"
            ),
        ),
    ],
    source=planes_source,
    online=True,
    owner=OWNER,
    description="Registry attributes of the aircraft flying the route; they never expire.",
    tags=OPEN_DATA,
)

carrier_daily_stats = FeatureView(
    name="carrier_daily_stats",
    entities=[carrier],
    ttl=timedelta(days=2),
    schema=[
        Field(
            name="flights_arrived",
            dtype=Int64,
            description="Flights of the day that had landed when the stats were published.",
            tags=semantics(unit="count", min=0),
        ),
        Field(
            name="on_time_rate",
            dtype=Float64,
            description="Share of the landed flights that arrived at most 15 minutes late.",
            tags=semantics(unit="1", min=0, max=1),
        ),
        Field(
            name="mean_arr_delay",
            dtype=Float64,
            description="Mean arrival delay of the landed flights (negative = early).",
            tags=semantics(unit="min", min=-120, max=1500),
        ),
        Field(
            name="cancelled",
            dtype=Int64,
            description="Flights of the day that never departed.",
            tags=semantics(unit="count", min=0),
        ),
    ],
    source=carrier_stats_source,
    online=True,
    owner=OWNER,
    description="Yesterday's on-time performance of the carrier, known from 06:00 New York time.",
    tags=OPEN_DATA,
)

route_attributes = FeatureView(
    name="route_attributes",
    entities=[route],
    ttl=timedelta(0),
    schema=[
        Field(
            name="distance",
            dtype=Float64,
            description="Great-circle distance of the route.",
            tags=semantics(unit="mile", min=0, max=6000),
        ),
    ],
    source=routes_source,
    online=True,
    owner=OWNER,
    description="Static attributes of an origin→destination route.",
    tags=OPEN_DATA,
)

origin_departures_60m = StreamFeatureView(
    name="origin_departures_60m",
    entities=[airport],
    ttl=timedelta(hours=2),
    schema=[
        Field(
            name="departures_60m",
            dtype=Int64,
            description="Flights that left the origin in the last 60 minutes.",
            tags=semantics(unit="count", min=0),
        ),
        Field(
            name="mean_dep_delay_60m",
            dtype=Float64,
            description="Mean departure delay of those flights.",
            tags=semantics(unit="min", min=-120, max=1500),
        ),
    ],
    source=departures_stream,
    aggregations=[
        Aggregation(
            column="flight_id",
            function="count",
            time_window=timedelta(minutes=60),
            name="departures_60m",
        ),
        Aggregation(
            column="dep_delay",
            function="mean",
            time_window=timedelta(minutes=60),
            name="mean_dep_delay_60m",
        ),
    ],
    timestamp_field="event_timestamp",
    online=True,
    owner=OWNER,
    description="Departure activity at the origin airport over a sliding 60-minute window, "
    "kept fresh by the stream consumer.",
    tags=OPEN_DATA,
)

delay_model_v1 = FeatureService(
    name="delay_model_v1",
    features=[
        weather_hourly[["temp", "humid", "wind_speed", "wind_gust", "precip", "visib"]],
        plane_attributes[["year_built", "seats", "engines"]],
        carrier_daily_stats[["on_time_rate", "mean_arr_delay", "flights_arrived"]],
        route_attributes,
        origin_departures_60m,
    ],
    owner=OWNER,
    description="Features of the model that predicts an arrival delay over 15 minutes at "
    "scheduled departure time.",
    tags={"model": "delay_model", "version": "1"},
)
