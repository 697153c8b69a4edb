"""The flights domain's streaming features, as aggregation specs over departure events."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from featurestore.aggregations.spec import Aggregation, Indicator, WindowSpec

DELAYED_MINUTES: Final = 15
"""A departure more than this many minutes late counts as delayed."""

DEPARTURE_LATENESS: Final = timedelta(minutes=10)
"""How late a departure event may arrive and still count (the source's watermark delay)."""

ORIGIN_DEPARTURES_60M: Final = WindowSpec(
    view="origin_departures_60m",
    key="origin",
    window=timedelta(minutes=60),
    allowed_lateness=DEPARTURE_LATENESS,
    aggregations=(
        Aggregation("departures_60m", "count"),
        Aggregation("mean_dep_delay_60m", "mean", "dep_delay"),
    ),
)
"""Per origin airport: departures and their mean delay over the last 60 minutes."""

CARRIER_DELAYS_2H: Final = WindowSpec(
    view="carrier_delays_2h",
    key="carrier",
    window=timedelta(hours=2),
    allowed_lateness=DEPARTURE_LATENESS,
    aggregations=(
        Aggregation("departures_2h", "count"),
        Aggregation("delayed_share_2h", "mean", Indicator("dep_delay", DELAYED_MINUTES)),
    ),
)
"""Per carrier: departures and the share delayed by more than 15 minutes over the last 2 hours."""

SPECS: Final = {spec.view: spec for spec in (ORIGIN_DEPARTURES_60M, CARRIER_DELAYS_2H)}
"""Every spec by the name of the stream feature view it fills."""

DEPARTURE_ORDER: Final = "event_timestamp, flight_id"
"""The order departures are published in (and so arrive in): by departure time, then flight."""


def departure_events_sql(flights: str) -> str:
    """One event per departed flight from a table expression with the `flights` source columns."""
    return (
        "SELECT flight_id, origin, carrier, departed_at AS event_timestamp, dep_delay "
        f"FROM {flights} WHERE departed_at IS NOT NULL"
    )
