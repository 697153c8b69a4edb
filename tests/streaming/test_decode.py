"""Event decoding against a stream source's schema and event semantics (no services)."""

from __future__ import annotations

import pytest

from featurestore.definitions import event_semantics as semantics_tags
from streaming.decode import EventDecoder, Rejected, SchemaError, event_semantics, parse_schema

SCHEMA = "flight_id bigint, origin string, event_timestamp timestamp, dep_delay bigint, ok boolean"


@pytest.fixture
def decoder() -> EventDecoder:
    tags = {
        **semantics_tags("origin", allowed="EWR,JFK", nullable=False),
        **semantics_tags("dep_delay", unit="min", min=-120, max=1500),
        "rights.license": "CC0-1.0",
    }
    return EventDecoder(parse_schema(SCHEMA), event_semantics(tags), "event_timestamp")


def test_a_valid_event_is_decoded_with_its_time_in_microseconds(decoder: EventDecoder) -> None:
    event = decoder.decode(
        b'{"flight_id": 7, "origin": "JFK", "event_timestamp": "2013-01-01T10:17:00.5+01:00",'
        b' "dep_delay": -3, "ok": true, "extra": 1}'
    )

    assert event == {
        "flight_id": 7,
        "origin": "JFK",
        "event_timestamp": 1_357_031_820_500_000,
        "dep_delay": -3,
        "ok": True,
    }


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (None, "empty message"),
        (b"{oops", "malformed JSON"),
        (b"[1, 2]", "expected a JSON object, got list"),
        (b'{"event_timestamp": "2013-01-01T00:00:00Z"}', "missing field `origin`"),
        (b'{"origin": "JFK"}', "missing field `event_timestamp`"),
        (
            b'{"origin": "JFK", "event_timestamp": "2013-01-01T00:00:00Z", "dep_delay": 1.5}',
            "field `dep_delay` = `1.5` has the wrong type: expected an integer",
        ),
        (
            b'{"origin": "JFK", "event_timestamp": "2013-01-01T00:00:00Z", "flight_id": true}',
            "field `flight_id` = `True` has the wrong type: expected an integer",
        ),
        (
            b'{"origin": "JFK", "event_timestamp": "2013-01-01T00:00:00Z", "dep_delay": -121}',
            "field `dep_delay` = `-121` is below its min `-120`",
        ),
        (
            b'{"origin": "ORD", "event_timestamp": "2013-01-01T00:00:00Z"}',
            "field `origin` = `ORD` is not one of ['EWR', 'JFK']",
        ),
        (
            b'{"origin": "JFK", "event_timestamp": "2013-01-01T00:00:00"}',
            "is not an ISO 8601 time with a UTC offset",
        ),
    ],
)
def test_bad_events_are_rejected_with_a_reason(
    decoder: EventDecoder, message: bytes | None, reason: str
) -> None:
    with pytest.raises(Rejected) as rejected:
        decoder.decode(message)

    assert reason in rejected.value.reason


def test_schemas_with_unknown_types_or_semantics_for_unknown_fields_are_refused() -> None:
    with pytest.raises(SchemaError, match="decimal"):
        parse_schema("price decimal")
    with pytest.raises(SchemaError, match="nope"):
        EventDecoder(
            parse_schema("event_timestamp timestamp"),
            event_semantics(semantics_tags("nope", min=1)),
            "event_timestamp",
        )
