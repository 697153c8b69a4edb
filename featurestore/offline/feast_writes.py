"""Writes of the Feast offline-store plugin: saved datasets and `offline_write_batch`.

Local Parquet files are written here (µs UTC timestamps, replaced atomically); every other
destination (a saved-dataset folder, Delta, object storage) goes to Feast's DuckDB store's own
writer, so the plugin stores what Feast's DuckDB store would.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from feast import FeatureView
from feast.data_format import ParquetFormat
from feast.data_source import DataSource
from feast.errors import SavedDatasetLocationAlreadyExists
from feast.infra.offline_stores.file_source import FileSource

from featurestore.errors import SourceDataError
from featurestore.offline.arrow_io import utc_microseconds, write_parquet


def local_parquet_path(source: DataSource | None, repo_path: Path | None) -> Path | None:
    """The local path a Parquet FileSource reads (a file or a folder of files), else None."""
    if not isinstance(source, FileSource):
        return None
    if source.file_format is not None and not isinstance(source.file_format, ParquetFormat):
        return None
    uri = FileSource.get_uri_for_file_path(repo_path, source.path)
    if "://" in uri and not uri.startswith("file://"):
        return None
    return Path(uri.removeprefix("file://"))


def persist_table(
    table: pa.Table, source: DataSource, repo_path: Path | None, allow_overwrite: bool
) -> None:
    """Save a retrieval result where a saved-dataset storage points."""
    path = local_parquet_path(source, repo_path)
    if path is not None and path.suffix == ".parquet" and not path.is_dir():
        if path.exists() and not allow_overwrite:
            raise SavedDatasetLocationAlreadyExists(location=str(path))
        write_parquet(table, path)
        return
    # Feast's layout for everything else (a folder of Parquet files, Delta, object storage):
    # delegated to Feast's DuckDB store's writer, which also refuses to overwrite unless allowed.
    import ibis
    from feast.infra.offline_stores.duckdb import _write_data_source

    _write_data_source(
        ibis.memtable(utc_microseconds(table)),
        source,
        str(repo_path) if repo_path else "",
        "overwrite",
        allow_overwrite,
    )


def append_rows(view: FeatureView, table: pa.Table, path: Path) -> None:
    """Append `table` to the Parquet file `path`, converting its columns to the file's types.

    Timestamps of any unit and zone (naive ones read as UTC) become the file's; the columns
    must be the file's, in any order."""
    existing = pq.read_table(path)
    if view.batch_source is not None and view.batch_source.field_mapping:
        # Feast hands the rows over with the mapped names; the file has the source's names.
        raw = {new: old for old, new in view.batch_source.field_mapping.items()}
        table = table.rename_columns([raw.get(name, name) for name in table.column_names])
    expected = set(existing.column_names)
    if set(table.column_names) != expected:
        raise SourceDataError(
            f"Cannot write to the offline source of feature view `{view.name}` (`{path}`): the "
            f"rows have columns {sorted(table.column_names)}, the file has {sorted(expected)}. "
            "Pass exactly the file's columns."
        )
    columns = []
    for target in existing.schema:
        column = table.column(target.name)
        try:
            columns.append(_cast(column, target.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise SourceDataError(
                f"Column `{target.name}` written to feature view `{view.name}` has type "
                f"`{column.type}`, which does not convert to the file's `{target.type}` ({exc}); "
                "pass values of the file's type."
            ) from exc
    incoming = pa.Table.from_arrays(columns, schema=existing.schema)
    write_parquet(pa.concat_tables([existing, incoming]), path)


def _cast(column: pa.ChunkedArray, target: pa.DataType) -> pa.ChunkedArray:
    if column.type.equals(target):
        return column
    if pa.types.is_timestamp(target) and pa.types.is_timestamp(column.type):
        # Arrow keeps the instant across zones and reads naive times as UTC; digits below the
        # file's unit are dropped, as Feast does when it writes µs.
        return column.cast(target, safe=False)
    return column.cast(target)
