"""The serving log: a sample of served feature vectors, written to date-partitioned Parquet.

Serving only puts the (immutable) result on a bounded queue; a background thread turns it
into rows and writes files. A full queue drops the sample and counts it, so logging can never
slow serving down. The log is the serving side of training-vs-serving skew checks.
"""

from __future__ import annotations

import json
import logging
import queue
import random
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

import pyarrow as pa
import pyarrow.parquet as pq

from featurestore.errors import ConfigError
from featurestore.online.client import OnlineFeatures

logger = logging.getLogger(__name__)

_STOP = object()


@dataclass(frozen=True)
class _Served:
    request_time: datetime
    result: OnlineFeatures


class ServingLog:
    """Samples served vectors per request (`sample_rate` in [0, 1]) into `directory`.

    Files land in `directory/date=YYYY-MM-DD/`; one file per flush and feature set, so read
    them with `read_parquet('…/*/*.parquet', union_by_name = true, hive_partitioning = true)`.
    """

    def __init__(
        self,
        directory: Path,
        *,
        sample_rate: float,
        queue_size: int = 10_000,
        flush_rows: int = 10_000,
        flush_seconds: float = 1.0,
        seed: int | None = None,
    ) -> None:
        if not 0.0 <= sample_rate <= 1.0:
            raise ConfigError("serving_log_sample_rate", sample_rate, "must be between 0 and 1")
        self.directory = directory
        self.sample_rate = sample_rate
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self.dropped = 0
        self.written_vectors = 0
        self.failed_writes = 0
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._random = random.Random(seed)
        self._thread: threading.Thread | None = None

    def record(self, result: OnlineFeatures, request_time: datetime | None = None) -> bool:
        """Queue the vectors of one served request if sampled; never blocks. True if queued."""
        if self.sample_rate <= 0.0 or self._random.random() >= self.sample_rate:
            return False
        if self._thread is None:
            self.start()
        try:
            self._queue.put_nowait(_Served(request_time or datetime.now(UTC), result))
        except queue.Full:
            self.dropped += 1
            return False
        return True

    def start(self) -> ServingLog:
        """Start the writer thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="featurestore-serving-log", daemon=True
            )
            self._thread.start()
        return self

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the writer thread."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._queue.put(_STOP)
        thread.join(timeout)

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def __enter__(self) -> ServingLog:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self) -> None:
        pending: list[_Served] = []
        rows = 0
        while True:
            try:
                item = self._queue.get(timeout=self.flush_seconds)
            except queue.Empty:
                item = None
            if isinstance(item, _Served):
                pending.append(item)
                rows += len(next(iter(item.result.values.values()), []))
            if pending and (item is None or item is _STOP or rows >= self.flush_rows):
                self._flush(pending)
                pending, rows = [], 0
            if item is _STOP:
                return

    def _flush(self, served: list[_Served]) -> None:
        groups: dict[tuple[object, ...], list[pa.Table]] = {}
        for item in served:
            table = _vectors(item)
            key = (item.request_time.date(), tuple(table.schema.names))
            groups.setdefault(key, []).append(table)
        for (day, _), tables in groups.items():
            folder = self.directory / f"date={day}"
            path = folder / f"part-{datetime.now(UTC):%H%M%S%f}-{uuid.uuid4().hex[:8]}.parquet"
            try:
                folder.mkdir(parents=True, exist_ok=True)
                table = pa.concat_tables(tables, promote_options="permissive")
                pq.write_table(table, path, coerce_timestamps="us")
            except (OSError, pa.ArrowException) as exc:  # the log must never take serving down
                self.failed_writes += 1
                logger.warning("could not write the serving log to %s: %s", path, exc)
                continue
            self.written_vectors += table.num_rows


def _vectors(item: _Served) -> pa.Table:
    """One row per served entity: request time, service, entity key, then each feature's
    value, status and event time (the columns of `OnlineFeatures.to_arrow()`)."""
    result = item.result
    table = result.to_arrow()
    rows = table.num_rows
    names = list(result.entities)
    entity_keys = [
        json.dumps(dict(zip(names, values, strict=True)), sort_keys=True, default=str)
        for values in zip(*(result.entities[name] for name in names), strict=True)
    ]
    table = table.drop_columns(names)
    prefix = {
        "request_time": pa.array([item.request_time] * rows, pa.timestamp("us", tz="UTC")),
        "feature_service": pa.array([result.feature_service] * rows, pa.string()),
        "entity_key": pa.array(entity_keys, pa.string()),
    }
    for position, (name, column) in enumerate(prefix.items()):
        table = table.add_column(position, name, column)
    return table
