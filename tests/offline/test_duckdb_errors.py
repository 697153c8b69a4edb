"""The DuckDB boundary turns duckdb exceptions into featurestore errors of the right kind."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from featurestore.errors import RetrievalError, SourceDataError
from featurestore.offline.errors import OfflineStoreError, duckdb_errors


def test_a_query_the_caller_got_wrong_is_invalid_with_the_hint() -> None:
    con = duckdb.connect()

    with pytest.raises(RetrievalError) as raised, duckdb_errors("read the spine", "Fix the SQL."):
        con.sql("SELECT nope FROM range(1)")

    assert raised.value.error_kind == "invalid"
    assert str(raised.value).startswith("Cannot read the spine: Binder Error")
    assert str(raised.value).endswith("Fix the SQL.")


def test_an_unreadable_file_is_a_conflict_naming_ingest(tmp_path: Path) -> None:
    con = duckdb.connect()

    with pytest.raises(SourceDataError) as raised, duckdb_errors("compute coverage"):
        con.sql(f"SELECT * FROM read_parquet('{tmp_path / 'missing.parquet'}')")

    assert raised.value.error_kind == "conflict"
    assert "run `featurestore ingest`" in str(raised.value)


def test_running_out_of_memory_names_the_settings() -> None:
    con = duckdb.connect()
    con.execute("SET memory_limit = '1MB'")

    with pytest.raises(OfflineStoreError) as raised, duckdb_errors("join"):
        con.sql("SELECT list(range) FROM range(3000000)").fetchall()

    assert raised.value.error_kind == "unavailable"
    assert "raise `memory_limit`" in str(raised.value)
