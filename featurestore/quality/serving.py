"""The serving log read back as a DuckDB relation: one row per served entity vector.

Files are written by `online.serving_log.ServingLog` under `<data dir>/serving_log/date=…/`;
columns are `request_time`, `feature_service`, `entity_key` (JSON), then per feature
`<name>`, `<name>__status` and `<name>__event_timestamp`. Files written for different feature
sets have different columns, hence `union_by_name`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb

from featurestore.sql import quote_literal

SERVING_LOG_FOLDER = "serving_log"


def serving_log_dir(data_dir: Path) -> Path:
    """Where the serving log of a data dir lives."""
    return data_dir / SERVING_LOG_FOLDER


def serving_log_files(directory: Path) -> list[Path]:
    """The log's Parquet files, sorted; empty when nothing was logged."""
    if not directory.is_dir():
        return []
    return sorted(directory.glob("date=*/*.parquet"))


def serving_log_relation(
    con: duckdb.DuckDBPyConnection,
    directory: Path,
    *,
    feature_service: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> duckdb.DuckDBPyRelation | None:
    """The logged vectors (optionally of one feature service, with `since <= request_time <
    until`), or None when the log holds no file."""
    files = serving_log_files(directory)
    if not files:
        return None
    listed = ", ".join(quote_literal(str(path)) for path in files)
    conditions = ["TRUE"]
    if feature_service is not None:
        conditions.append(f"feature_service = {quote_literal(feature_service)}")
    if since is not None:
        conditions.append(f"request_time >= {quote_literal(since.isoformat())}::TIMESTAMPTZ")
    if until is not None:
        conditions.append(f"request_time < {quote_literal(until.isoformat())}::TIMESTAMPTZ")
    return con.sql(
        f"SELECT * EXCLUDE (date) FROM read_parquet([{listed}], union_by_name = true, "
        f"hive_partitioning = true) WHERE {' AND '.join(conditions)}"
    )
