"""Decode JSON events and check them against the stream source's schema and field semantics."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson

from featurestore.aggregations.declared import SchemaError, parse_schema
from featurestore.definitions import EVENT_TAG_PREFIX
from featurestore.metadata import FieldSemantics, parse_semantics

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROS = timedelta(microseconds=1)

__all__ = ["EventDecoder", "Rejected", "SchemaError", "event_semantics", "parse_schema"]

Value = int | float | str | bool | None
Check = Callable[[object], tuple[Value, str | None]]


class Rejected(Exception):
    """An event fails its checks; `reason` goes to the dead-letter topic."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def event_semantics(tags: Mapping[str, str]) -> dict[str, FieldSemantics]:
    """Per event field, the semantics written with `event_semantics(...)` on the source."""
    grouped: dict[str, dict[str, str]] = {}
    for tag, value in tags.items():
        if tag.startswith(EVENT_TAG_PREFIX):
            field, _, term = tag[len(EVENT_TAG_PREFIX) :].rpartition(".")
            grouped.setdefault(field, {})[term] = value
    return {field: parse_semantics(terms) for field, terms in grouped.items()}


def parse_timestamp_us(text: str) -> int:
    """Microseconds since the epoch of an ISO 8601 time with a UTC offset (`…Z` or `…+02:00`)."""
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError("it has no UTC offset")
    return (parsed - _EPOCH) // _MICROS


@dataclass(frozen=True)
class EventDecoder:
    """Turns one message value into checked field values, or raises `Rejected` with the reason."""

    fields: Mapping[str, str]
    semantics: Mapping[str, FieldSemantics]
    timestamp_field: str

    def __post_init__(self) -> None:
        unknown = set(self.semantics) - set(self.fields)
        if unknown or self.timestamp_field not in self.fields:
            raise SchemaError(
                f"Event semantics name fields {sorted(unknown)} missing from the schema, or the "
                f"schema lacks `{self.timestamp_field}`; fix the stream source definition."
            )
        checks = {
            name: _check(name, kind, self.semantics.get(name)) for name, kind in self.fields.items()
        }
        object.__setattr__(self, "_checks", checks)
        object.__setattr__(self, "_times", {})

    def decode(self, value: bytes | None) -> dict[str, Value]:
        """The event's fields (timestamp as µs since the epoch), checked."""
        if value is None:
            raise Rejected("empty message (no value)")
        try:
            document = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise Rejected(f"malformed JSON: {exc}") from None
        if not isinstance(document, dict):
            raise Rejected(f"expected a JSON object, got {type(document).__name__}")
        event: dict[str, Value] = {}
        checks: dict[str, Check] = self._checks  # type: ignore[attr-defined]
        for name, check in checks.items():
            checked, problem = check(document.get(name))
            if problem is not None:
                raise Rejected(problem)
            event[name] = checked
        at = event[self.timestamp_field]
        if at is None:
            raise Rejected(f"missing field `{self.timestamp_field}`")
        times: dict[str, int] = self._times  # type: ignore[attr-defined]
        micros = times.get(str(at))
        if micros is None:
            try:
                micros = parse_timestamp_us(str(at))
            except ValueError as exc:
                raise Rejected(
                    f"field `{self.timestamp_field}` = `{at}` is not an ISO 8601 time with a UTC "
                    f"offset ({exc})"
                ) from None
            if len(times) > 10_000:
                times.clear()
            times[str(at)] = micros
        event[self.timestamp_field] = micros
        return event


def _check(name: str, kind: str, semantics: FieldSemantics | None) -> Check:
    """One field's check: presence, JSON type, then range and allowed values."""
    nullable = semantics.nullable if semantics else True
    low = semantics.min if semantics else None
    high = semantics.max if semantics else None
    allowed = set(semantics.allowed) if semantics and semantics.allowed else None
    expected = {"int": "an integer", "float": "a number", "string": "a string"}.get(kind, "")
    expected = expected or {"timestamp": "an ISO 8601 string", "bool": "a boolean"}[kind]

    def check(value: object) -> tuple[Value, str | None]:
        if value is None:
            return None, None if nullable else f"missing field `{name}`"
        if kind == "int":
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif kind == "float":
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            ok = ok and math.isfinite(value)  # type: ignore[arg-type]
        elif kind in ("string", "timestamp"):
            ok = isinstance(value, str)
        else:
            ok = isinstance(value, bool)
        if not ok:
            return None, f"field `{name}` = `{value!r}` has the wrong type: expected {expected}"
        if low is not None and value < low:  # type: ignore[operator]
            return None, f"field `{name}` = `{value}` is below its min `{low:g}`"
        if high is not None and value > high:  # type: ignore[operator]
            return None, f"field `{name}` = `{value}` is above its max `{high:g}`"
        if allowed is not None and value not in allowed:
            return None, f"field `{name}` = `{value}` is not one of {sorted(allowed)}"
        return value, None  # type: ignore[return-value]

    return check
