"""The vectorized encoder and the decoder agree byte for byte with Feast's own serializers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.online_stores.helpers import _mmh3, _redis_key
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value
from feast.type_map import feast_value_type_to_python_type, python_values_to_proto_values
from feast.value_type import ValueType
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import assume, given
from hypothesis import strategies as st

from featurestore.online.binary import varints
from featurestore.online.decoding import decode_timestamp_micros, decode_value
from featurestore.online.encoding import (
    encode_entity_keys,
    encode_timestamps,
    encode_values,
)
from featurestore.online.layout import field_name

INT64 = st.integers(-(2**63), 2**63 - 1)
INT32 = st.integers(-(2**31), 2**31 - 1)
MOMENTS = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
SCALARS: dict[ValueType, tuple[st.SearchStrategy[Any], pa.DataType]] = {
    ValueType.DOUBLE: (st.floats(allow_nan=True, allow_infinity=True), pa.float64()),
    ValueType.FLOAT: (st.floats(width=32, allow_nan=False), pa.float32()),
    ValueType.INT64: (INT64, pa.int64()),
    ValueType.INT32: (INT32, pa.int32()),
    ValueType.BOOL: (st.booleans(), pa.bool_()),
    ValueType.STRING: (st.text(), pa.string()),
    ValueType.BYTES: (st.binary(), pa.binary()),
}


def feast_bytes(values: list[Any], value_type: ValueType) -> list[bytes]:
    return [p.SerializeToString() for p in python_values_to_proto_values(values, value_type)]


@st.composite
def typed_column(draw: st.DrawFn) -> tuple[ValueType, list[Any], pa.DataType]:
    value_type = draw(st.sampled_from(sorted(SCALARS, key=lambda kind: kind.value)))
    values, arrow_type = SCALARS[value_type]
    return value_type, draw(st.lists(st.none() | values, max_size=30)), arrow_type


@given(typed_column())
def test_values_encode_as_feast_serializes_them(column: tuple[ValueType, list[Any], Any]) -> None:
    value_type, values, arrow_type = column
    # Feast infers nothing from a bytes column of only b"" and None, and nulls all of it;
    # we keep b"" (which Feast's reader reads back as b"").
    assume(value_type != ValueType.BYTES or any(values))

    ours = encode_values(pa.array(values, arrow_type), value_type, "f").to_list()

    assert ours == feast_bytes(values, value_type)


@given(typed_column())
def test_decoding_gives_what_feast_reads(column: tuple[ValueType, list[Any], Any]) -> None:
    value_type, values, arrow_type = column
    encoded = encode_values(pa.array(values, arrow_type), value_type, "f").to_list()

    decoded = [decode_value(raw) for raw in encoded]

    expected = [feast_value_type_to_python_type(Value.FromString(raw)) for raw in encoded]
    assert [repr(value) for value in decoded] == [repr(value) for value in expected]


@given(st.lists(st.none() | MOMENTS, max_size=20))
def test_unix_timestamps_read_back_as_feast_reads_its_own(values: list[datetime | None]) -> None:
    array = pa.array(values, pa.timestamp("us", tz="UTC"))
    feast_protos = python_values_to_proto_values(
        array.to_numpy(zero_copy_only=False), ValueType.UNIX_TIMESTAMP
    )

    ours = encode_values(array, ValueType.UNIX_TIMESTAMP, "t").to_list()

    # Feast stores a null as the NaT sentinel, we as the empty Value; both read back as None.
    assert [decode_value(raw) for raw in ours] == [
        feast_value_type_to_python_type(proto) for proto in feast_protos
    ]
    present = [i for i, value in enumerate(values) if value is not None]
    assert [ours[i] for i in present] == [feast_protos[i].SerializeToString() for i in present]


@given(st.lists(MOMENTS, max_size=20))
def test_event_times_encode_as_protobuf_timestamps(moments: list[datetime]) -> None:
    encoded = encode_timestamps(pa.array(moments, pa.timestamp("us", tz="UTC")), "t").to_list()

    expected = []
    for moment in moments:
        stamp = Timestamp()
        stamp.FromDatetime(moment)
        expected.append(stamp.SerializeToString())
    assert encoded == expected
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert [decode_timestamp_micros(raw) for raw in encoded] == [
        (moment - epoch) // timedelta(microseconds=1) for moment in moments
    ]


KEY_NAMES = st.text(alphabet="abcdefghij_", min_size=1, max_size=8)


@given(
    st.dictionaries(
        KEY_NAMES, st.sampled_from([ValueType.STRING, ValueType.INT64]), min_size=1, max_size=3
    ),
    st.data(),
)
def test_entity_keys_encode_as_feast_keys_redis(
    types: dict[str, ValueType], data: st.DataObject
) -> None:
    rows = data.draw(st.integers(1, 5))
    columns: dict[str, list[Any]] = {
        name: data.draw(
            st.lists(st.text() if kind == ValueType.STRING else INT64, min_size=rows, max_size=rows)
        )
        for name, kind in types.items()
    }
    arrow = {name: pa.array(values) for name, values in columns.items()}

    ours = encode_entity_keys(arrow, types, "flights").to_list()

    expected = []
    for row in range(rows):
        values = [
            Value(string_val=columns[name][row])
            if kind == ValueType.STRING
            else Value(int64_val=columns[name][row])
            for name, kind in types.items()
        ]
        key = EntityKey(join_keys=list(types), entity_values=values)
        expected.append(_redis_key("flights", key, entity_key_serialization_version=3))
        assert expected[-1] == serialize_entity_key(key) + b"flights"
    assert ours == expected


def test_field_names_are_feast_murmur_hashes() -> None:
    assert field_name("weather_hourly", "temp") == _mmh3("weather_hourly:temp")


def test_varints_cover_every_length() -> None:
    values = np.array([0, 1, 127, 128, 2**35, 2**63 - 1, -1, -(2**63)], np.int64)

    encoded = varints(values).to_list()

    assert encoded == [Value(int64_val=int(v)).SerializeToString()[1:] for v in values]
