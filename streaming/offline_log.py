"""The consumer's offline log: date-partitioned Parquet plus a checkpoint per Kafka partition.

Layout under `<data dir>/stream/<view>/`:
- `date=YYYY-MM-DD/<topic>-<partition>-<first offset>-<last offset>.parquet`: final rows;
- `_checkpoints/<topic>-<partition>.json`: the next offset to read and the window state as of it.
Files appear by atomic rename; the checkpoint is replaced last, so it is the commit point: a data
file of a partition whose first offset is not below its checkpoint's offset is an orphan of a
crashed write and is removed before the partition is consumed again.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from featurestore.aggregations import Row, WindowSpec
from featurestore.sql import quote_literal

logger = logging.getLogger(__name__)

_US_PER_DAY = 86_400_000_000
TIMESTAMP = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Checkpoint:
    """Where a partition's consumption resumes, and the window state as of that offset."""

    next_offset: int
    state: dict[str, Any]
    applied: dict[str, dict[str, int]] | None = None
    """Repartitioned views: per key, the highest applied offset per source partition."""


def write_atomically(target: Path, text: str) -> None:
    """Replace `target` with `text` by rename, so readers see the old or the new file whole."""
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        temporary.write_text(text)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def rows_table(spec: WindowSpec, rows: list[Row]) -> pa.Table:
    """Rows as the Arrow table of the view: key, event and created time, features."""
    times = pa.array([row.at_us for row in rows], pa.int64()).cast(TIMESTAMP)
    columns: dict[str, pa.Array] = {
        spec.key: pa.array([row.key for row in rows], pa.string()),
        spec.timestamp_field: times,
        spec.created_timestamp_field: times,
    }
    for position, aggregation in enumerate(spec.aggregations):
        values = [row.values[position] for row in rows]
        columns[aggregation.name] = pa.array(values, aggregation.output_type)
    return pa.table(columns)


class OfflineLog:
    """Appends one view's final rows per Kafka partition, with checkpoints that commit them."""

    def __init__(self, root: Path, spec: WindowSpec) -> None:
        self.root = root
        self.spec = spec
        self._checkpoints = root / "_checkpoints"

    def append(self, topic: str, partition: int, first: int, last: int, rows: list[Row]) -> None:
        """Write the rows of offsets `first..last` of a partition, one file per event date."""
        by_date: dict[int, list[Row]] = defaultdict(list)
        for row in rows:
            by_date[row.at_us // _US_PER_DAY].append(row)
        for day, day_rows in sorted(by_date.items()):
            date = datetime.fromtimestamp(day * 86_400, UTC).date().isoformat()
            target = (
                self.root / f"date={date}" / f"{topic}-{partition}-{first:020d}-{last:020d}.parquet"
            )
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
            try:
                pq.write_table(rows_table(self.spec, day_rows), temporary)
                os.replace(temporary, target)
            finally:
                temporary.unlink(missing_ok=True)

    def commit(self, topic: str, partition: int, checkpoint: Checkpoint) -> None:
        """Replace the partition's checkpoint: from now on its appended files count."""
        self._checkpoints.mkdir(parents=True, exist_ok=True)
        target = self._checkpoints / f"{topic}-{partition}.json"
        data: dict[str, Any] = {"next_offset": checkpoint.next_offset, "state": checkpoint.state}
        if checkpoint.applied is not None:
            data["applied"] = checkpoint.applied
        write_atomically(target, json.dumps(data))

    def recover(self, topic: str, partition: int) -> Checkpoint | None:
        """The partition's last checkpoint, after removing files no checkpoint committed."""
        path = self._checkpoints / f"{topic}-{partition}.json"
        checkpoint = None
        if path.is_file():
            data = json.loads(path.read_text())
            checkpoint = Checkpoint(
                next_offset=int(data["next_offset"]),
                state=data["state"],
                applied=data.get("applied"),
            )
        committed_until = checkpoint.next_offset if checkpoint else 0
        prefix = f"{topic}-{partition}-"
        for file in self.root.glob(f"date=*/{prefix}*.parquet"):
            first = int(file.stem[len(prefix) :].split("-")[0])
            if first >= committed_until:
                logger.info("Removing %s, written after the last checkpoint", file)
                file.unlink(missing_ok=True)
        for stale in self.root.glob("**/.*.tmp"):
            if stale.name.startswith(f".{prefix}"):
                stale.unlink(missing_ok=True)
        return checkpoint

    def files(self) -> list[Path]:
        return sorted(self.root.glob("date=*/*.parquet"))

    def table_sql(self) -> str:
        """A DuckDB table expression over every committed file (for the point-in-time engine)."""
        pattern = str(self.root / "date=*" / "*.parquet")
        return f"read_parquet({quote_literal(pattern)}, hive_partitioning = false)"

    def read(self) -> pa.Table:
        """Every row of the log, sorted by event time and key."""
        files = self.files()
        if not files:
            return rows_table(self.spec, [])
        con = duckdb.connect()
        try:
            con.execute("SET TimeZone = 'UTC'")
            order = f'"{self.spec.timestamp_field}", "{self.spec.key}"'
            return con.sql(f"SELECT * FROM {self.table_sql()} ORDER BY {order}").to_arrow_table()
        finally:
            con.close()
