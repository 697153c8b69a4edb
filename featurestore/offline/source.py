"""Feature sources as the offline engine sees them: where the rows are, and which columns."""

from __future__ import annotations

import glob
import hashlib
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import duckdb

from featurestore.errors import RetrievalError
from featurestore.offline.pit_sql import utc_timestamp_sql
from featurestore.sql import quote_ident, quote_literal


@dataclass(frozen=True)
class SourceLocation:
    """Where a source's rows are: local Parquet (a file or a glob, with columns optionally
    renamed), or a relation registered on the DuckDB connection or any table expression."""

    path: str | None = None
    renames: tuple[tuple[str, str], ...] = ()
    """Column renames (stored name, name used by the view), Feast's `field_mapping`."""
    expression: str | None = None

    @classmethod
    def parquet(cls, path: str | Path, renames: dict[str, str] | None = None) -> SourceLocation:
        return cls(path=str(path), renames=tuple((renames or {}).items()))

    @classmethod
    def relation(cls, expression: str) -> SourceLocation:
        """A relation name registered on the connection, or a DuckDB table expression."""
        return cls(expression=expression)

    @property
    def sql(self) -> str:
        """A DuckDB table expression reading the rows, renames applied."""
        if self.path is None:
            return self.expression or ""
        expression = f"read_parquet({quote_literal(self.path)})"
        if not self.renames:
            return expression
        renames = ", ".join(
            f"{quote_ident(old)} AS {quote_ident(new)}" for old, new in self.renames
        )
        return f"(SELECT * RENAME ({renames}) FROM {expression})"

    @property
    def positional_file(self) -> str | None:
        """The one local Parquet file read as is, whose rows can be read back by position."""
        if self.path is None or self.renames or not Path(self.path).is_file():
            return None
        return self.path

    def files(self) -> list[Path]:
        """The local files the location reads (a glob expanded), sorted; empty if none."""
        if self.path is None:
            return []
        return sorted(Path(found) for found in glob.glob(self.path) if Path(found).is_file())

    def fingerprint(self) -> str | None:
        """A hash of what is read (paths, sizes and modification times of the files, and the
        renames); None when the rows are not local files, so nothing about them is cached."""
        files = self.files()
        if not files:
            return None
        parts: list[object] = [self.path, self.renames]
        for path in files:
            stat = path.stat()
            parts.append((str(path.resolve()), stat.st_size, stat.st_mtime_ns))
        return hashlib.sha256(repr(parts).encode()).hexdigest()


@dataclass(frozen=True)
class ViewSource:
    """One feature view as the engine sees it: its location, keys, features and timestamps."""

    name: str
    location: SourceLocation
    join_keys: tuple[str, ...]
    features: tuple[str, ...]
    timestamp_field: str
    created_timestamp_field: str | None = None
    ttl: timedelta | None = None
    spine_join_keys: tuple[str, ...] = ()
    """Names of the join keys in the spine, when they differ from the source's (Feast's
    `join_key_map`); empty means the same names."""

    @property
    def table(self) -> str:
        """The DuckDB table expression reading the source."""
        return self.location.sql

    @property
    def spine_keys(self) -> tuple[str, ...]:
        """The spine column matched to each of `join_keys`."""
        return self.spine_join_keys or self.join_keys


@dataclass(frozen=True)
class CheckedSource:
    """A source whose columns exist, with its event and created time as UTC TIMESTAMPTZ SQL."""

    source: ViewSource
    types: dict[str, str]
    event_sql: str
    created_sql: str | None


def check_source(con: duckdb.DuckDBPyConnection, source: ViewSource) -> CheckedSource:
    """Check that the source is readable and has the view's columns with usable timestamps."""
    what = f"feature view `{source.name}`"
    try:
        relation = con.sql(f"SELECT * FROM {source.table}")
    except duckdb.Error as exc:
        raise RetrievalError(
            f"Cannot read the source of {what} (`{source.table}`): {exc}. Run `featurestore "
            "ingest` or fix the source path."
        ) from exc
    types = {name: str(kind) for name, kind in zip(relation.columns, relation.types, strict=True)}
    wanted = [*source.join_keys, *source.features, source.timestamp_field]
    if source.created_timestamp_field:
        wanted.append(source.created_timestamp_field)
    missing = [name for name in dict.fromkeys(wanted) if name not in types]
    if missing:
        raise RetrievalError(
            f"The source `{source.table}` of {what} has no column(s) "
            f"{', '.join(f'`{name}`' for name in missing)}; its columns are "
            f"{', '.join(f'`{name}`' for name in types)}. Fix the view definition."
        )
    if source.ttl is not None and source.ttl < timedelta(0):
        raise RetrievalError(
            f"The ttl of {what} is negative (`{source.ttl}`); use a positive ttl, or zero or None "
            "for no limit."
        )
    created = source.created_timestamp_field
    return CheckedSource(
        source=source,
        types=types,
        event_sql=_timestamp_sql(what, source.timestamp_field, types),
        created_sql=_timestamp_sql(what, created, types) if created else None,
    )


def _timestamp_sql(what: str, column: str, types: dict[str, str]) -> str:
    converted = utc_timestamp_sql(quote_ident(column), types[column])
    if converted is None:
        raise RetrievalError(
            f"Column `{column}` of {what} has type `{types[column]}`; it must be a timestamp or "
            "a date."
        )
    return converted
