"""Publish any table to Kafka as keyed JSON events: a Parquet file or glob, or a DuckDB query.

Each row is one JSON object of its columns; times are ISO 8601 in UTC (`…Z`, a naive time is
read as UTC), which is what the stream consumer's decoder expects of a timestamp field. Rows go
out in the order of `time` when it is given (ties in the table's order), else in table order.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import duckdb
import orjson

from featurestore.errors import InvalidInputError, SourceDataError
from featurestore.kafka import TOPIC_PARTITIONS, ensure_topics, kafka_errors, make_producer
from featurestore.progress import Reporter, SilentReporter
from featurestore.sql import quote_ident, quote_literal

logger = logging.getLogger(__name__)

_BATCH: Final = 5000
_ORDER: Final = "__fs_replay_order"
_QUERY: Final = re.compile(r"^\s*(\(|select\b|with\b|from\b|values\b)", re.IGNORECASE)
_JSON_OPTIONS: Final = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


@dataclass(frozen=True)
class ReplayResult:
    """How many events were published and over which event-time span."""

    published: int
    first_event: datetime | None
    last_event: datetime | None
    seconds: float


def table_expression(source: str) -> str:
    """A DuckDB table expression for a Parquet path or glob, or for a SQL query."""
    if _QUERY.match(source):
        return f"({source})"
    if source.lower().endswith(".parquet") or Path(source).exists():
        return f"read_parquet({quote_literal(source)})"
    raise InvalidInputError(
        f"`{source}` is neither a Parquet file or glob nor a SQL query; pass a `.parquet` path "
        "or a query starting with SELECT or WITH."
    )


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def encode_row(columns: Sequence[str], row: Sequence[Any]) -> bytes:
    """The JSON an event is published as: its columns, times in ISO 8601 UTC."""
    return orjson.dumps(
        dict(zip(columns, row, strict=True)), option=_JSON_OPTIONS, default=_json_default
    )


def replay_table(
    source: str,
    bootstrap_servers: str,
    *,
    topic: str,
    key: str,
    time_column: str | None = None,
    speed: float | None = None,
    limit: int | None = None,
    reporter: Reporter | None = None,
    task: str = "Replay",
) -> ReplayResult:
    """Publish each row of `source` keyed by its `key` column; with `time_column`, in event
    time order, and `speed` N plays N event-time seconds per second."""
    if speed is not None and (time_column is None or speed <= 0):
        raise InvalidInputError(
            f"`--speed {speed}` needs `--time COLUMN` and a positive number; pass both."
        )
    reporter = reporter or SilentReporter()
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        query, columns = _query(con, source, key, time_column, limit)
        total = con.execute(f"SELECT count(*) FROM ({query})").fetchall()[0][0]
        ensure_topics(bootstrap_servers, {topic: TOPIC_PARTITIONS})
        producer = make_producer(bootstrap_servers)
        key_at = columns.index(key)
        time_at = columns.index(time_column) if time_column else None
        began = time.perf_counter()
        first_at: datetime | None = None
        last_at: datetime | None = None
        published = 0
        reporter.start(task, total=total)
        try:
            with kafka_errors(f"publish to topic {topic}", bootstrap_servers):
                for rows in _batches(con, query):
                    for row in rows:
                        at = row[time_at] if time_at is not None else None
                        if isinstance(at, datetime):
                            first_at = first_at or at
                            last_at = at
                            if speed is not None:
                                due = began + (at - first_at).total_seconds() / speed
                                if (wait := due - time.perf_counter()) > 0:
                                    time.sleep(wait)
                        value = row[key_at]
                        producer.send(
                            topic,
                            key=None if value is None else str(value).encode(),
                            value=encode_row(columns, row),
                        )
                    published += len(rows)
                    reporter.advance(task, len(rows))
                producer.flush()
        finally:
            producer.close()
    finally:
        con.close()
    reporter.finish(task)
    seconds = time.perf_counter() - began
    logger.info("Published %d events to %s in %.1f s", published, topic, seconds)
    return ReplayResult(published, _utc(first_at), _utc(last_at), seconds)


def _query(
    con: duckdb.DuckDBPyConnection,
    source: str,
    key: str,
    time_column: str | None,
    limit: int | None,
) -> tuple[str, list[str]]:
    """The ordered query over the source, and its columns; checks the named columns exist."""
    expression = table_expression(source)
    try:
        columns = list(con.sql(f"SELECT * FROM {expression} LIMIT 0").columns)
    except duckdb.Error as exc:
        raise SourceDataError(f"Cannot read `{source}`: {exc}. Fix the path or query.") from exc
    for option, name in (("--key", key), ("--time", time_column)):
        if name is not None and name not in columns:
            raise InvalidInputError(
                f"`{option} {name}` names no column of `{source}`; its columns are "
                f"{', '.join(f'`{c}`' for c in columns)}."
            )
    listed = ", ".join(quote_ident(column) for column in columns)
    query = f"SELECT {listed} FROM {expression}"
    if time_column is not None:
        # An empty OVER () numbers rows in the table's order, so ties keep that order.
        numbered = f"SELECT *, row_number() OVER () AS {_ORDER} FROM {expression}"
        query = f"SELECT {listed} FROM ({numbered}) ORDER BY {quote_ident(time_column)}, {_ORDER}"
    if limit is not None:
        query += f" LIMIT {int(limit)}"
    return query, columns


def _batches(con: duckdb.DuckDBPyConnection, query: str) -> Iterator[list[tuple[Any, ...]]]:
    result = con.execute(query)
    while rows := result.fetchmany(_BATCH):
        yield rows


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
