"""Feast's Redis layout, in one place: key header, entity key values, fields and value tags.

Checked against Feast 0.67's `feast/infra/key_encoding_utils.py` (entity key serialization
version 3) and `feast/infra/online_stores/redis.py`:
- key: `u32le(n)`, per join key sorted by name `u32le(STRING) u32le(len) name`, then per value
  `u32le(ValueType) u32le(len) bytes`, then the project name. No hash tag is added, so a Redis
  Cluster spreads keys over its masters by the CRC16 of the whole key, as Feast's do;
- field: `u32le(mmh3_32("<view>:<feature>"))`; value: a serialized `feast.types.Value` (a null
  is the empty message, `b""`); `_ts:<view>`: a serialized protobuf `Timestamp`.

The vectorized encoder (featurestore.online.encoding), the scalar key builder of reads
(featurestore.online.plan), the decoder (featurestore.online.decoding) and the freshness
sampler take these from here.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any

import mmh3
from feast.value_type import ValueType

U32 = struct.Struct("<I")

# Tag byte (field number << 3 | wire type) of each scalar in `feast.types.Value`.
TAG_BYTES, TAG_STRING, TAG_INT32, TAG_INT64 = 0x0A, 0x12, 0x18, 0x20
TAG_DOUBLE, TAG_FLOAT, TAG_BOOL, TAG_UNIX_TIMESTAMP = 0x29, 0x35, 0x38, 0x40
# Tags of protobuf `Timestamp`'s varint fields.
TAG_SECONDS, TAG_NANOS = 0x08, 0x10

FIXED_WIDTH: dict[ValueType, tuple[int, str]] = {
    ValueType.DOUBLE: (TAG_DOUBLE, "d"),
    ValueType.FLOAT: (TAG_FLOAT, "f"),
    ValueType.BOOL: (TAG_BOOL, "?"),
}
"""Values of a fixed size: the tag byte, then a `struct` code of the payload."""

KEY_VALUE: dict[ValueType, Callable[[Any], bytes]] = {
    ValueType.STRING: lambda value: str(value).encode(),
    ValueType.BYTES: lambda value: bytes(value),
    ValueType.INT64: lambda value: struct.pack("<q", int(value)),
    ValueType.INT32: lambda value: struct.pack("<i", int(value)),
    ValueType.UNIX_TIMESTAMP: lambda value: struct.pack("<q", int(value)),
}
"""The bytes of one join key value in a key, per value type Feast keys Redis by."""
KEY_TYPES = frozenset(KEY_VALUE)


def key_prefix(join_keys: Sequence[str]) -> bytes:
    """The start of every key of an entity: the count and names of its join keys, sorted."""
    names = sorted(join_keys)
    return U32.pack(len(names)) + b"".join(
        U32.pack(ValueType.STRING.value) + U32.pack(len(name.encode())) + name.encode()
        for name in names
    )


def key_value_header(value_type: ValueType, length: int) -> bytes:
    """What precedes a join key value's bytes: its value type and length."""
    return U32.pack(value_type.value) + U32.pack(length)


def field_name(view_name: str, feature: str) -> bytes:
    """The hash field of a feature: little-endian murmur3_32 of `<view>:<feature>`."""
    return U32.pack(mmh3.hash(f"{view_name}:{feature}", signed=False))


def timestamp_field(view_name: str) -> bytes:
    """The hash field holding the event time of a view's values for one entity."""
    return f"_ts:{view_name}".encode()


_GLOB_SPECIAL = frozenset(b"*?[]\\")


def scan_pattern(project: str, join_keys: Sequence[str]) -> bytes:
    """A SCAN MATCH pattern for the keys of one entity in a project (glob-escaped)."""
    return _escape(key_prefix(join_keys)) + b"*" + _escape(project.encode())


def _escape(raw: bytes) -> bytes:
    return b"".join(b"\\" + bytes([b]) if b in _GLOB_SPECIAL else bytes([b]) for b in raw)
