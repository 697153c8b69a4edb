"""DuckDB sessions for the offline store: UTC connections with memory and spill settings, and
DuckDB errors mapped to ones that say what to do."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import duckdb
import pyarrow as pa

from featurestore.errors import ConfigError, RetrievalError


@contextlib.contextmanager
def connect(config: Any = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB connection in UTC, with the memory limit, spill folder and threads
    of `config` (any object with optional `memory_limit`, `temp_directory`, `threads`)."""
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        _apply(con, "memory_limit", getattr(config, "memory_limit", None))
        _apply(con, "temp_directory", getattr(config, "temp_directory", None))
        _apply(con, "threads", getattr(config, "threads", None))
        yield con
    finally:
        con.close()


def _apply(con: duckdb.DuckDBPyConnection, name: str, value: object) -> None:
    if value is None:
        return
    try:
        con.execute(f"SET {name} = ?", [value])
    except duckdb.Error as exc:
        raise ConfigError(f"offline_store.{name}", value, str(exc)) from exc


def duckdb_advice(exc: duckdb.Error) -> str:
    """DuckDB's message, and what to do when it ran out of memory."""
    if isinstance(exc, duckdb.OutOfMemoryException):
        first_line = str(exc).strip().splitlines()[0]
        return (
            f"DuckDB ran out of memory ({first_line}); raise `memory_limit` in the offline "
            "store settings, or set `temp_directory` to a folder with free space so it can spill."
        )
    return str(exc)


def arrow_query(con: duckdb.DuckDBPyConnection, sql: str, what: str) -> pa.Table:
    """The result of `sql` as Arrow; DuckDB's errors become a `RetrievalError` that starts with
    `what` and says what to do."""
    try:
        return con.sql(sql).to_arrow_table()
    except duckdb.OutOfMemoryException as exc:
        raise RetrievalError(f"{what} failed in DuckDB: {duckdb_advice(exc)}") from exc
    except duckdb.Error as exc:
        raise RetrievalError(
            f"{what} failed in DuckDB: {exc}. Check that the source files exist and that the "
            "join keys have the same types in the entity dataframe and the feature views."
        ) from exc
