"""Columns of byte strings as numpy buffers: the vectorized pieces the Redis encoders build on.

A column is one `uint8` buffer plus row offsets, like an Arrow binary array; rows are built,
concatenated and framed for the Redis protocol with array operations, and Python `bytes`
objects are made (if ever) only at the end.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

_MAX_VARINT = 10


@dataclass(frozen=True)
class Binary:
    """A column of byte strings: row `i` is `data[offsets[i]:offsets[i + 1]]`."""

    offsets: np.ndarray  # int64, len n + 1, starting at 0
    data: np.ndarray  # uint8

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def width(self) -> int | None:
        """The length shared by every row, or None when rows differ."""
        rows = len(self)
        if rows == 0:
            return 0
        width = int(self.offsets[-1]) // rows
        return width if np.array_equal(self.offsets, np.arange(rows + 1) * width) else None

    @classmethod
    def constant(cls, value: bytes, rows: int) -> Binary:
        """The same bytes in every row."""
        offsets = np.arange(rows + 1, dtype=np.int64) * len(value)
        return cls(offsets, np.tile(np.frombuffer(value, np.uint8), rows))

    @classmethod
    def fixed(cls, matrix: np.ndarray) -> Binary:
        """Rows of equal width from an (n, width) uint8 matrix."""
        rows, width = matrix.shape
        offsets = np.arange(rows + 1, dtype=np.int64) * width
        return cls(offsets, np.ascontiguousarray(matrix).reshape(-1))

    @classmethod
    def from_arrow(cls, array: pa.Array) -> Binary:
        """The bytes of a (large_)string or (large_)binary array without nulls."""
        array = array.cast(pa.large_binary())
        _, offsets_buffer, data_buffer = array.buffers()
        offsets = np.frombuffer(offsets_buffer, np.int64)[
            array.offset : array.offset + len(array) + 1
        ]
        start, end = int(offsets[0]), int(offsets[-1])
        data = (
            np.frombuffer(data_buffer, np.uint8)[start:end]
            if data_buffer
            else np.empty(0, np.uint8)
        )
        return cls(offsets - start, data)

    def expand(self, valid: np.ndarray) -> Binary:
        """These rows placed at the `valid` positions of a longer column; other rows are empty."""
        lengths = np.zeros(len(valid), np.int64)
        lengths[valid] = self.lengths
        offsets = np.zeros(len(valid) + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return Binary(offsets, self.data)

    def to_list(self) -> list[bytes]:
        """One `bytes` object per row."""
        buffer = self.data.tobytes()
        bounds = self.offsets.tolist()
        return [buffer[start:end] for start, end in itertools.pairwise(bounds)]


def concat_rows(parts: Sequence[Binary]) -> Binary:
    """Row-wise concatenation: row `i` of the result is row `i` of every part, in order."""
    rows = len(parts[0])
    widths = [part.width() for part in parts]
    fixed = [width for width in widths if width is not None]
    if len(fixed) == len(parts):  # all fixed-width: one horizontal stack
        matrices = [
            part.data.reshape(rows, width) for part, width in zip(parts, fixed, strict=True)
        ]
        return Binary.fixed(np.hstack(matrices) if rows else np.empty((0, 0), np.uint8))
    offsets = np.zeros(rows + 1, np.int64)
    np.cumsum(sum(part.lengths for part in parts), out=offsets[1:])
    out = np.empty(int(offsets[-1]), np.uint8)
    start = offsets[:-1].copy()
    for part, width in zip(parts, widths, strict=True):
        if width is not None:
            out[start[:, None] + np.arange(width)] = part.data.reshape(rows, width)
            start += width
            continue
        lengths = part.lengths
        # Each byte j of the part goes to start[row] + (j - part.offsets[row]).
        shift = np.repeat(start - part.offsets[:-1], lengths)
        out[shift + np.arange(len(part.data))] = part.data
        start += lengths
    return Binary(offsets, out)


def varints(values: np.ndarray) -> Binary:
    """Protobuf base-128 varints of int64/uint64 values (negatives take 10 bytes, as int64)."""
    unsigned = values.astype(np.int64, copy=False).view(np.uint64)
    groups = np.arange(_MAX_VARINT, dtype=np.uint64) * np.uint64(7)
    septets = ((unsigned[:, None] >> groups) & np.uint64(0x7F)).astype(np.uint8)
    lengths = np.ones(len(unsigned), np.int64)
    for septet in range(1, _MAX_VARINT):
        lengths += unsigned >= np.uint64(1 << (7 * septet))
    position = np.arange(_MAX_VARINT)
    septets[position[None, :] < (lengths[:, None] - 1)] |= 0x80
    offsets = np.zeros(len(unsigned) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return Binary(offsets, septets[position[None, :] < lengths[:, None]])


def decimals(values: np.ndarray) -> Binary:
    """ASCII decimal digits of non-negative integers (`b"0"`, `b"42"`, …)."""
    values = values.astype(np.int64, copy=False)
    digits = np.ones(len(values), np.int64)
    for power in range(1, 19):
        digits += values >= 10**power
    width = int(digits.max()) if len(values) else 1
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    matrix = ((values[:, None] // powers) % 10 + ord("0")).astype(np.uint8)
    keep = np.arange(width)[None, :] >= (width - digits)[:, None]
    offsets = np.zeros(len(values) + 1, np.int64)
    np.cumsum(digits, out=offsets[1:])
    return Binary(offsets, matrix[keep])


def resp_bulk(strings: Binary) -> Binary:
    """Each row as a RESP bulk string, `$<length>\\r\\n<bytes>\\r\\n`, ready to send to Redis."""
    rows = len(strings)
    crlf = Binary.constant(b"\r\n", rows)
    return concat_rows(
        [Binary.constant(b"$", rows), decimals(strings.lengths), crlf, strings, crlf]
    )


def resp_bulk_constant(value: bytes) -> bytes:
    """One RESP bulk string."""
    return b"$%d\r\n%b\r\n" % (len(value), value)


def little_endian(values: np.ndarray, dtype: str) -> Binary:
    """Fixed-width little-endian bytes of numbers, e.g. `dtype="<f8"`."""
    typed = np.ascontiguousarray(values.astype(dtype))
    return Binary.fixed(typed.view(np.uint8).reshape(len(values), typed.itemsize))


def from_list(values: list[bytes]) -> Binary:
    """A column from Python `bytes` objects (the slow path, for what numpy cannot build)."""
    lengths = np.fromiter((len(value) for value in values), np.int64, len(values))
    offsets = np.zeros(len(values) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return Binary(offsets, np.frombuffer(b"".join(values), np.uint8))
