"""The numpy byte-column helpers build exactly what the plain Python spelling would."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from featurestore.online.binary import Binary, concat_rows, decimals, from_list, resp_bulk

COLUMNS = st.integers(0, 12).flatmap(
    lambda rows: st.lists(
        st.one_of(
            st.lists(st.binary(max_size=20), min_size=rows, max_size=rows),
            st.binary(max_size=9).map(lambda value: [value] * rows),  # a fixed-width column
        ),
        min_size=1,
        max_size=5,
    )
)


@given(COLUMNS)
def test_concat_rows_joins_each_row_across_columns(columns: list[list[bytes]]) -> None:
    joined = concat_rows([from_list(column) for column in columns]).to_list()

    assert joined == [b"".join(parts) for parts in zip(*columns, strict=True)]


@given(st.lists(st.integers(0, 2**62), max_size=30))
def test_decimals_are_ascii_digits(values: list[int]) -> None:
    assert decimals(np.array(values, np.int64)).to_list() == [str(v).encode() for v in values]


@given(st.lists(st.binary(max_size=300), max_size=20))
def test_resp_bulk_strings_frame_each_row(values: list[bytes]) -> None:
    framed = resp_bulk(from_list(values)).to_list()

    assert framed == [b"$%d\r\n%b\r\n" % (len(value), value) for value in values]


def test_constant_and_fixed_columns_know_their_width() -> None:
    assert Binary.constant(b"abc", 4).width() == 3
    assert Binary.fixed(np.zeros((2, 5), np.uint8)).width() == 5
    assert from_list([b"a", b"bc"]).width() is None
