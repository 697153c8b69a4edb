"""Feast's Redis key/value format (featurestore.online.layout), encoded column-wise from
Arrow arrays with numpy.

Feast builds one protobuf object per value; here every column becomes one byte buffer plus
offsets (featurestore.online.binary), built with array operations.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from feast.type_map import python_values_to_proto_values
from feast.value_type import ValueType

from featurestore.errors import TerminalError
from featurestore.online.binary import (
    Binary,
    concat_rows,
    from_list,
    little_endian,
    varints,
)
from featurestore.online.layout import (
    KEY_TYPES,
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
    U32,
    key_prefix,
)


class EncodingError(TerminalError):
    """A column cannot be encoded as the Feast value type its definition declares."""


def _tagged(tag: int, payload: Binary) -> Binary:
    return concat_rows([Binary.constant(bytes([tag]), len(payload)), payload])


def _encode_valid(array: pa.Array, value_type: ValueType) -> Binary:
    """Serialized Values of a column without nulls (and NaNs, which Feast stores as null)."""
    if value_type == ValueType.DOUBLE:
        return _tagged(TAG_DOUBLE, little_endian(array.to_numpy(), "<f8"))
    if value_type == ValueType.FLOAT:
        return _tagged(TAG_FLOAT, little_endian(array.to_numpy(), "<f4"))
    if value_type in (ValueType.INT64, ValueType.INT32):
        tag = TAG_INT64 if value_type == ValueType.INT64 else TAG_INT32
        return _tagged(tag, varints(array.to_numpy()))
    if value_type == ValueType.BOOL:
        flags = array.to_numpy(zero_copy_only=False).astype(np.uint8)
        return _tagged(TAG_BOOL, Binary.fixed(flags.reshape(-1, 1)))
    if value_type == ValueType.UNIX_TIMESTAMP:
        return _tagged(TAG_UNIX_TIMESTAMP, varints(_epoch_seconds(array)))
    if value_type in (ValueType.STRING, ValueType.BYTES):
        content = Binary.from_arrow(array)
        tag = TAG_STRING if value_type == ValueType.STRING else TAG_BYTES
        return concat_rows(
            [Binary.constant(bytes([tag]), len(content)), varints(content.lengths), content]
        )
    raise AssertionError(value_type)


_ARROW_TYPES: dict[ValueType, pa.DataType] = {
    ValueType.DOUBLE: pa.float64(),
    ValueType.FLOAT: pa.float32(),
    ValueType.INT64: pa.int64(),
    ValueType.INT32: pa.int32(),
    ValueType.BOOL: pa.bool_(),
    ValueType.STRING: pa.large_string(),
    ValueType.BYTES: pa.large_binary(),
}


def _as_type(array: pa.Array, value_type: ValueType, column: str) -> pa.Array:
    target = _ARROW_TYPES.get(value_type)
    if target is None or array.type == target:
        return array
    try:
        return array.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise EncodingError(
            f"Column `{column}` has Arrow type `{array.type}`, which does not convert to the "
            f"declared `{value_type.name}` ({exc}); fix the source data or the field's "
            "dtype."
        ) from exc


def encode_values(array: pa.Array | pa.ChunkedArray, value_type: ValueType, column: str) -> Binary:
    """Serialized `feast.types.Value` of every row; nulls (and float NaNs) are `b""`, as Feast."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if value_type not in _ARROW_TYPES and value_type != ValueType.UNIX_TIMESTAMP:
        # Lists, maps and the rarer scalars: Feast's own converter, one protobuf per row.
        protos = python_values_to_proto_values(array.to_numpy(zero_copy_only=False), value_type)
        return from_list([proto.SerializeToString() for proto in protos])
    array = _as_type(array, value_type, column)
    valid = array.is_valid()
    if value_type in (ValueType.DOUBLE, ValueType.FLOAT):
        valid = pc.and_(valid, pc.invert(pc.is_nan(array)))
    mask = valid.to_numpy(zero_copy_only=False).astype(bool)
    if mask.all():
        return _encode_valid(array, value_type)
    return _encode_valid(array.filter(valid), value_type).expand(mask)


def encode_timestamps(array: pa.Array | pa.ChunkedArray, column: str) -> Binary:
    """Serialized protobuf `Timestamp` (seconds, nanos; zero fields omitted) of each row."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if not pa.types.is_timestamp(array.type) or array.null_count:
        raise EncodingError(
            f"Event time column `{column}` must be a timestamp without nulls, not `{array.type}` "
            f"with {array.null_count} null(s); drop rows without an event time first."
        )
    micros = array.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy()
    seconds, remainder = np.divmod(micros, 1_000_000)
    parts = []
    for tag, values in ((TAG_SECONDS, seconds), (TAG_NANOS, remainder * 1000)):
        present = values != 0
        encoded = _tagged(tag, varints(values[present])).expand(present)
        parts.append(encoded)
    return concat_rows(parts)


def encode_entity_keys(
    columns: Mapping[str, pa.Array | pa.ChunkedArray],
    value_types: Mapping[str, ValueType],
    project: str,
) -> Binary:
    """Redis keys of the entity rows given as one array per join key."""
    names = sorted(columns)
    rows = len(columns[names[0]]) if names else 0
    parts = [Binary.constant(key_prefix(names), rows)]
    for name in names:
        value_type = value_types[name]
        array = columns[name]
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        if value_type not in KEY_TYPES:
            raise EncodingError(
                f"Join key `{name}` has type `{value_type.name}`; Feast keys Redis by "
                "STRING, BYTES, INT32 or INT64 join keys only. Change the entity's value type."
            )
        if array.null_count:
            raise EncodingError(
                f"Join key `{name}` has {array.null_count} null value(s); drop those rows first."
            )
        array = _as_type(array, value_type, name)
        if value_type in (ValueType.STRING, ValueType.BYTES):
            value = Binary.from_arrow(array)
        elif value_type == ValueType.UNIX_TIMESTAMP:
            value = little_endian(_epoch_seconds(array), "<i8")
        else:
            width = "<i8" if value_type == ValueType.INT64 else "<i4"
            value = little_endian(array.to_numpy(), width)
        header = U32.pack(value_type.value)
        parts += [Binary.constant(header, rows), little_endian(value.lengths, "<u4"), value]
    parts.append(Binary.constant(project.encode(), rows))
    return concat_rows(parts)


def _epoch_seconds(array: pa.Array) -> np.ndarray:
    """Whole seconds since the epoch, floored like numpy's `datetime64[s]` cast Feast uses."""
    micros = array.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy()
    return np.floor_divide(micros, 1_000_000)
