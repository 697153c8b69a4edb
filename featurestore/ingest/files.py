"""Load a team's CSV, Parquet or JSON-lines files into a declared source's Parquet, in DuckDB.

Each row is cast to the types the views declare and checked against their field semantics;
a row that fails goes, with its first failing check as `reason`, to
`<data dir>/rejects/<source>/<input fingerprint>.parquet` (never dropped silently). Good rows
are added to the source's Parquet with timestamps as µs UTC: a naive time is read as UTC. When
the input has no created-timestamp column, a row's created time is its event time.

Ingest is idempotent: a row is identified by its join keys, event time and created time, and a
row already in the source is not written again, so ingesting the same file twice changes
nothing. A source path that is a folder (or glob) gets one new file per input fingerprint.
"""

from __future__ import annotations

import glob
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import duckdb

from featurestore.errors import SourceDataError
from featurestore.ingest.declared import DeclaredColumn, DeclaredSource, declared_source
from featurestore.settings import Settings
from featurestore.sql import quote_ident, quote_literal

logger = logging.getLogger(__name__)

_READERS: Final = {
    ".csv": "read_csv({files}, header = true, all_varchar = true, union_by_name = true)",
    ".tsv": "read_csv({files}, header = true, all_varchar = true, union_by_name = true)",
    ".parquet": "read_parquet({files}, union_by_name = true)",
    ".json": "read_json({files}, format = 'newline_delimited', union_by_name = true)",
    ".jsonl": "read_json({files}, format = 'newline_delimited', union_by_name = true)",
    ".ndjson": "read_json({files}, format = 'newline_delimited', union_by_name = true)",
}
_ROW: Final = "__fs_row"


@dataclass(frozen=True)
class FilesIngested:
    """What one ingest did: rows read, new rows written, rejected rows per reason."""

    source: str
    files: tuple[Path, ...]
    rows_read: int
    rows_new: int
    rows_present: int
    """Good rows already in the source (a repeated ingest)."""
    rejected: dict[str, int]
    output: Path | None
    """The Parquet file written, or None when there was nothing new."""
    rejects: Path | None


def input_files(pattern: str) -> list[Path]:
    """The files a path or glob names, sorted; refuses none and mixed or unknown formats."""
    files = sorted(Path(found) for found in glob.glob(pattern) if Path(found).is_file())
    if not files:
        raise SourceDataError(f"No file matches `{pattern}`; pass a file path or a glob.")
    suffixes = {path.suffix.lower() for path in files}
    if len(suffixes) > 1 or not suffixes <= set(_READERS):
        raise SourceDataError(
            f"`{pattern}` matches files of type {', '.join(sorted(suffixes))}; ingest reads one "
            f"format at a time: {', '.join(sorted(_READERS))}."
        )
    return files


def fingerprint(files: list[Path]) -> str:
    """A hash of the files' contents (not their names or times)."""
    digest = hashlib.sha256()
    for path in files:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def ingest_source_files(settings: Settings, pattern: str, source_name: str) -> FilesIngested:
    """`featurestore ingest FILE_OR_GLOB --source NAME`: the repo's definitions say the rest."""
    from featurestore.repo import load_definitions

    contents = load_definitions(settings)
    source = declared_source(contents, source_name, settings.repo_path.resolve())
    return ingest_files(pattern, source, settings.data_dir)


def ingest_files(pattern: str, source: DeclaredSource, data_dir: Path) -> FilesIngested:
    """Cast, check and add the rows of the files `pattern` names to `source`'s Parquet."""
    files = input_files(pattern)
    input_print = fingerprint(files)
    reader = _READERS[files[0].suffix.lower()].format(
        files="[" + ", ".join(quote_literal(str(path)) for path in files) + "]"
    )
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        try:
            con.execute(
                f"CREATE TEMP TABLE raw AS SELECT row_number() OVER () AS {_ROW}, * FROM {reader}"
            )
        except duckdb.Error as exc:
            raise SourceDataError(f"Cannot read `{pattern}`: {exc}; fix the file.") from exc
        present = set(con.sql("SELECT * FROM raw LIMIT 0").columns)
        _check_columns(source, present, pattern)
        con.execute(f"CREATE TEMP TABLE checked AS {_checked_sql(source, present)}")
        rows_read = _count(con, "SELECT 1 FROM checked")
        rejected = dict(
            con.execute(
                "SELECT reason, count(*) FROM checked WHERE reason IS NOT NULL "
                "GROUP BY reason ORDER BY count(*) DESC, reason"
            ).fetchall()
        )
        rejects = _write_rejects(con, source, data_dir, input_print) if rejected else None
        rows_new, rows_present, output = _write_good(con, source, input_print)
    finally:
        con.close()
    logger.info("ingested %s into %s: %d new rows", pattern, source.name, rows_new)
    return FilesIngested(
        source=source.name,
        files=tuple(files),
        rows_read=rows_read,
        rows_new=rows_new,
        rows_present=rows_present,
        rejected=rejected,
        output=output,
        rejects=rejects,
    )


def _check_columns(source: DeclaredSource, present: set[str], pattern: str) -> None:
    optional = {source.created_timestamp_field}
    missing = [c.name for c in source.columns if c.name not in present and c.name not in optional]
    if missing:
        raise SourceDataError(
            f"`{pattern}` has no column(s) {', '.join(f'`{name}`' for name in missing)}, which "
            f"the views {', '.join(f'`{v}`' for v in source.views)} of source `{source.name}` "
            f"read; its columns are {', '.join(f'`{n}`' for n in sorted(present - {_ROW}))}."
        )


def _checked_sql(source: DeclaredSource, present: set[str]) -> str:
    """Each raw row with its typed columns and the reason of its first failing check."""
    typed = []
    reasons = []
    for column in source.columns:
        raw = quote_ident(column.name)
        if column.name not in present:  # the created time, defaulting to the event time
            raw = quote_ident(source.timestamp_field)
        cast = f"TRY_CAST({raw} AS {column.sql_type})"
        typed.append(f"{cast} AS {quote_ident(column.name)}")
        reasons.extend(_reasons(column, raw, cast))
    cases = " ".join(f"WHEN {condition} THEN {quote_literal(why)}" for condition, why in reasons)
    reason = f"CASE {cases} END" if cases else "NULL"
    return f"SELECT {_ROW}, {', '.join(typed)}, {reason} AS reason FROM raw"


def _reasons(column: DeclaredColumn, raw: str, cast: str) -> list[tuple[str, str]]:
    """(SQL condition, reason) of each check of one column, in the order they are tried."""
    name = f"`{column.name}`"
    checks = []
    if not column.nullable:
        checks.append((f"{raw} IS NULL", f"{name} is null but may not be"))
    what = "a timestamp" if column.sql_type == "TIMESTAMPTZ" else f"of type {column.sql_type}"
    checks.append((f"{raw} IS NOT NULL AND {cast} IS NULL", f"{name} is not {what}"))
    for semantics in column.semantics:
        if semantics.min is not None:
            checks.append(
                (f"{cast} < {semantics.min!r}", f"{name} is below its min {semantics.min:g}")
            )
        if semantics.max is not None:
            checks.append(
                (f"{cast} > {semantics.max!r}", f"{name} is above its max {semantics.max:g}")
            )
        if semantics.allowed is not None:
            allowed = ", ".join(quote_literal(value) for value in semantics.allowed)
            checks.append(
                (
                    f"CAST({cast} AS VARCHAR) NOT IN ({allowed})",
                    f"{name} is not one of {', '.join(semantics.allowed)}",
                )
            )
    return checks


def _write_rejects(
    con: duckdb.DuckDBPyConnection, source: DeclaredSource, data_dir: Path, input_print: str
) -> Path:
    """The rejected rows as read (text), with their reason."""
    folder = data_dir / "rejects" / source.name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{input_print}.parquet"
    query = (
        f"SELECT raw.* EXCLUDE ({_ROW}), checked.reason FROM raw JOIN checked USING ({_ROW}) "
        f"WHERE checked.reason IS NOT NULL ORDER BY {_ROW}"
    )
    _copy(con, query, path)
    return path


def _write_good(
    con: duckdb.DuckDBPyConnection, source: DeclaredSource, input_print: str
) -> tuple[int, int, Path | None]:
    """Add the good rows not yet in the source; (new rows, rows already there, file written)."""
    columns = ", ".join(quote_ident(column.name) for column in source.columns)
    identity = [*source.key_columns, source.timestamp_field]
    if source.created_timestamp_field:
        identity.append(source.created_timestamp_field)
    # One row per identity within the input too: the last one read wins.
    con.execute(
        f"CREATE TEMP TABLE good AS SELECT {columns} FROM checked WHERE reason IS NULL "
        f"QUALIFY row_number() OVER (PARTITION BY {_list(identity)} ORDER BY {_ROW} DESC) = 1"
    )
    existing = _existing(source)
    if existing is None:
        con.execute("CREATE TEMP TABLE new_rows AS SELECT * FROM good")
    else:
        matches = " AND ".join(
            f"good.{quote_ident(name)} IS NOT DISTINCT FROM old.{quote_ident(name)}"
            for name in identity
        )
        con.execute(
            f"CREATE TEMP TABLE new_rows AS SELECT * FROM good WHERE NOT EXISTS "
            f"(SELECT 1 FROM {existing} AS old WHERE {matches})"
        )
    new = _count(con, "SELECT 1 FROM new_rows")
    present = _count(con, "SELECT 1 FROM good") - new
    if new == 0:
        return 0, present, None
    order = _list([source.timestamp_field, *identity])
    if source.path.is_dir():
        path = source.path / f"part-{input_print}.parquet"
        _copy(con, f"SELECT * FROM new_rows ORDER BY {order}", path)
        return new, present, path
    rows = "SELECT * FROM new_rows"
    if existing is not None:
        rows = f"SELECT * FROM {existing} UNION ALL BY NAME {rows}"
    source.path.parent.mkdir(parents=True, exist_ok=True)
    _copy(con, f"SELECT * FROM ({rows}) ORDER BY {order}", source.path)
    return new, present, source.path


def _existing(source: DeclaredSource) -> str | None:
    """A table expression over the rows the source already holds, or None if it has none."""
    if source.path.is_dir():
        files = sorted(source.path.glob("*.parquet"))
        if not files:
            return None
        return f"read_parquet({quote_literal(str(source.path / '*.parquet'))}, union_by_name=true)"
    if source.path.is_file():
        return f"read_parquet({quote_literal(str(source.path))})"
    return None


def _copy(con: duckdb.DuckDBPyConnection, query: str, path: Path) -> None:
    """Write a query's rows to `path` through a temporary file, so readers never see half."""
    partial = path.with_name(f".{path.name}.partial")
    con.execute(f"COPY ({query}) TO {quote_literal(str(partial))} (FORMAT parquet)")
    partial.replace(path)


def _count(con: duckdb.DuckDBPyConnection, query: str) -> int:
    rows = con.execute(f"SELECT count(*) FROM ({query})").fetchall()
    return int(rows[0][0])


def _list(names: list[str]) -> str:
    return ", ".join(quote_ident(name) for name in dict.fromkeys(names))
