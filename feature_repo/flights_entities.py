"""Entities of the flights domain: the things features describe."""

from feast import Entity, ValueType

OWNER = "flight-ops-ml@example.org"

airport = Entity(
    name="airport",
    join_keys=["origin"],
    value_type=ValueType.STRING,
    owner=OWNER,
    description="A New York departure airport, by FAA code (EWR, JFK or LGA).",
    tags={"domain": "flights"},
)

carrier = Entity(
    name="carrier",
    join_keys=["carrier"],
    value_type=ValueType.STRING,
    owner=OWNER,
    description="An airline, by its two-letter IATA carrier code (e.g. UA).",
    tags={"domain": "flights"},
)

plane = Entity(
    name="plane",
    join_keys=["tailnum"],
    value_type=ValueType.STRING,
    owner=OWNER,
    description="An aircraft, by its tail number (e.g. N14228).",
    tags={"domain": "flights"},
)

route = Entity(
    name="route",
    join_keys=["route"],
    value_type=ValueType.STRING,
    owner=OWNER,
    description="A directed origin→destination pair, written `ORIGIN-DEST` (e.g. JFK-LAX).",
    tags={"domain": "flights"},
)
