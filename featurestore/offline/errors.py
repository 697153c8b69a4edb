"""The DuckDB adapter boundary: duckdb exceptions become featurestore errors here.

Like `featurestore.online.errors.redis_errors`: a query that cannot be run as asked (bad
SQL, mismatched types, values out of range) is the caller's to fix (`invalid`); files that
cannot be read are the store's state (`conflict`: ingest or fix the source); running out of
memory and DuckDB's own failures are `unavailable`, with what to change.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import duckdb

from featurestore.errors import ErrorKind, RetrievalError, SourceDataError, TerminalError

_CALLER_ERRORS = (
    duckdb.BinderException,
    duckdb.CatalogException,
    duckdb.ConversionException,
    duckdb.InvalidInputException,
    duckdb.InvalidTypeException,
    duckdb.OutOfRangeException,
    duckdb.ParserException,
    duckdb.TypeMismatchException,
    duckdb.NotImplementedException,
)


class OfflineStoreError(TerminalError):
    """DuckDB failed in a way the request cannot fix (memory, an internal error)."""

    error_kind: ErrorKind = "unavailable"


@contextlib.contextmanager
def duckdb_errors(action: str, hint: str = "") -> Iterator[None]:
    """Translate duckdb exceptions raised while doing `action` (e.g. `join the spine to
    feature view customer_daily_stats`); `hint` says what to fix when the input is at fault."""
    try:
        yield
    except duckdb.OutOfMemoryException as exc:
        first_line = str(exc).strip().splitlines()[0]
        raise OfflineStoreError(
            f"DuckDB ran out of memory while trying to {action} ({first_line}); raise "
            "`memory_limit` in the offline store settings, or set `temp_directory` to a folder "
            "with free space so it can spill."
        ) from exc
    except duckdb.IOException as exc:
        raise SourceDataError(
            f"DuckDB cannot read the files it needs to {action}: {exc}. Check that the source "
            "files exist (run `featurestore ingest`) and are readable Parquet."
        ) from exc
    except _CALLER_ERRORS as exc:
        raise RetrievalError(f"Cannot {action}: {exc}. {hint}".strip()) from exc
    except duckdb.Error as exc:
        raise OfflineStoreError(
            f"DuckDB failed while trying to {action}: {exc}. Retry; if it persists, rerun "
            "with `--debug` and report the query."
        ) from exc
