"""Writing offline results: Parquet with microsecond UTC timestamps, replaced atomically."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROW_GROUP_SIZE = 128 * 1024


def utc_microseconds(table: pa.Table) -> pa.Table:
    """The table with every timestamp column as `timestamp[us, tz=UTC]` (naive read as UTC)."""
    fields = []
    for schema_field in table.schema:
        if pa.types.is_timestamp(schema_field.type):
            schema_field = schema_field.with_type(pa.timestamp("us", tz="UTC"))
        fields.append(schema_field)
    target = pa.schema(fields, metadata=table.schema.metadata)
    return table if target.equals(table.schema) else table.cast(target)


def write_parquet(table: pa.Table, path: Path) -> int:
    """Write `table` to `path` through a temporary file in the same folder; returns rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    pq.write_table(
        utc_microseconds(table),
        partial,
        row_group_size=ROW_GROUP_SIZE,
        compression="zstd",
    )
    os.replace(partial, path)
    return table.num_rows
