"""Read Feast's Redis values back: serialized `feast.types.Value`s and `Timestamp`s.

Scalars are decoded straight from their bytes by the tag byte (about 5× faster than a
protobuf object per value); anything else goes through Feast's own converter.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.type_map import NULL_TIMESTAMP_INT_VALUE, feast_value_type_to_python_type

from featurestore.online.layout import (
    TAG_BOOL,
    TAG_BYTES,
    TAG_DOUBLE,
    TAG_FLOAT,
    TAG_INT32,
    TAG_INT64,
    TAG_NANOS,
    TAG_SECONDS,
    TAG_STRING,
    TAG_UNIX_TIMESTAMP,
)

_DOUBLE = struct.Struct("<d")
_FLOAT = struct.Struct("<f")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INT64_SIGN = 1 << 63
_UINT64 = 1 << 64


def _varint(raw: bytes, pos: int) -> tuple[int, int]:
    """The unsigned varint at `pos`, and the position after it."""
    result = shift = 0
    while True:
        byte = raw[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _signed(raw: bytes) -> int | None:
    value, end = _varint(raw, 1)
    if end != len(raw):
        return None
    return value - _UINT64 if value >= _INT64_SIGN else value


def _length_delimited(raw: bytes) -> bytes | None:
    size, start = _varint(raw, 1)
    if start + size != len(raw):
        return None
    return raw[start:]


def _decode_double(raw: bytes) -> Any:
    return _DOUBLE.unpack_from(raw, 1)[0] if len(raw) == 9 else _protobuf(raw)


def _decode_float(raw: bytes) -> Any:
    return _FLOAT.unpack_from(raw, 1)[0] if len(raw) == 5 else _protobuf(raw)


def _decode_int(raw: bytes) -> Any:
    value = _signed(raw)
    return _protobuf(raw) if value is None else value


def _decode_bool(raw: bytes) -> Any:
    return raw[1] != 0 if len(raw) == 2 else _protobuf(raw)


def _decode_string(raw: bytes) -> Any:
    content = _length_delimited(raw)
    return _protobuf(raw) if content is None else content.decode()


def _decode_bytes(raw: bytes) -> Any:
    content = _length_delimited(raw)
    return _protobuf(raw) if content is None else content


def _decode_unix_timestamp(raw: bytes) -> Any:
    seconds = _signed(raw)
    if seconds is None:
        return _protobuf(raw)
    if seconds == NULL_TIMESTAMP_INT_VALUE:
        return None
    return _EPOCH + timedelta(seconds=seconds)


def _protobuf(raw: bytes) -> Any:
    return feast_value_type_to_python_type(ValueProto.FromString(raw))


_BY_TAG: dict[int, Callable[[bytes], Any]] = {
    TAG_DOUBLE: _decode_double,
    TAG_FLOAT: _decode_float,
    TAG_INT64: _decode_int,
    TAG_INT32: _decode_int,
    TAG_BOOL: _decode_bool,
    TAG_STRING: _decode_string,
    TAG_BYTES: _decode_bytes,
    TAG_UNIX_TIMESTAMP: _decode_unix_timestamp,
}


def decode_value(raw: bytes | None) -> Any:
    """The Python value of a serialized `feast.types.Value`; `None` for a null or no bytes."""
    if not raw:
        return None
    decoder = _BY_TAG.get(raw[0])
    return decoder(raw) if decoder is not None else _protobuf(raw)


def decode_timestamp_micros(raw: bytes) -> int:
    """Microseconds since the epoch of a serialized protobuf `Timestamp`."""
    seconds = nanos = 0
    pos = 0
    while pos < len(raw):
        tag = raw[pos]
        value, pos = _varint(raw, pos + 1)
        if value >= _INT64_SIGN:
            value -= _UINT64
        if tag == TAG_SECONDS:
            seconds = value
        elif tag == TAG_NANOS:
            nanos = value
    return seconds * 1_000_000 + nanos // 1000


def micros_to_datetime(micros: int) -> datetime:
    """A UTC datetime from microseconds since the epoch (exact, also before 1970)."""
    return _EPOCH + timedelta(microseconds=micros)
