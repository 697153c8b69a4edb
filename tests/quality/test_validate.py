"""Validation of sources against declared semantics, on hand-made data with known faults."""

from __future__ import annotations

import math
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from featurestore.metadata import FieldSemantics
from featurestore.offline.arrow_io import write_parquet
from featurestore.offline.source import SourceLocation
from featurestore.quality.validate import FeatureRules, ValidationSpec, validate_view
from featurestore.quality.validation_cache import ValidationCache

pytestmark = pytest.mark.integration

NOW = datetime(2024, 6, 1, tzinfo=UTC)
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _row(key: str, hour: int, **values: object) -> dict[str, object]:
    event = T0 + timedelta(hours=hour)
    row: dict[str, object] = {
        "key": key,
        "event_timestamp": event,
        "created_timestamp": event + timedelta(minutes=5),
        "amount": 1.0,
        "count": 1,
        "colour": "red",
    }
    row.update(values)
    return row


def _write(path: Path, rows: list[dict[str, object]]) -> Path:
    schema = pa.schema(
        [
            ("key", pa.string()),
            ("event_timestamp", pa.timestamp("us", tz="UTC")),
            ("created_timestamp", pa.timestamp("us", tz="UTC")),
            ("amount", pa.float64()),
            ("count", pa.int64()),
            ("colour", pa.string()),
        ]
    )
    write_parquet(pa.Table.from_pylist(rows, schema=schema), path)
    return path


def _spec(path: Path, on_violation: str = "fail") -> ValidationSpec:
    return ValidationSpec(
        view="things",
        location=SourceLocation.parquet(path),
        join_keys=("key",),
        timestamp_field="event_timestamp",
        created_timestamp_field="created_timestamp",
        features=(
            FeatureRules("amount", "Float64", FieldSemantics(min=0, max=100, nullable=False)),
            FeatureRules("count", "Int64", FieldSemantics(min=1, max=5)),
            FeatureRules("colour", "String", FieldSemantics(allowed=("red", "blue"))),
        ),
        on_violation=on_violation,  # type: ignore[arg-type]
    )


FAULTY = [
    _row("a", 0),
    _row("a", 1, amount=None),  # nulls(amount)
    _row("a", 2, amount=None),  # nulls(amount)
    _row("a", 3, amount=math.nan),  # nan_inf(amount), not above_max
    _row("a", 4, amount=math.inf),  # nan_inf(amount)
    _row("a", 5, amount=-0.5),  # below_min(amount)
    _row("b", 0, amount=100.5, count=0),  # above_max(amount), below_min(count)
    _row("b", 1, count=6),  # above_max(count)
    _row("b", 2, count=None),  # a null count is fine: count is nullable
    _row("b", 3, colour="green"),  # not_allowed(colour)
    _row("b", 4, colour=None),  # a null colour is not a disallowed value
    _row("c", 0),
    _row("c", 0),  # duplicates: 2 beyond the first of (c, 0, 0:05)
    _row("c", 0),
    _row(
        "c",
        1,
        event_timestamp=NOW + timedelta(days=1),
        created_timestamp=NOW + timedelta(days=1),
    ),  # future_event
    _row("c", 2, created_timestamp=T0),  # created_before_event (event is T0 + 2h)
]


def _counts(path: Path) -> dict[tuple[str, str | None], int]:
    with duckdb.connect() as con:
        validation = validate_view(con, _spec(path), now=NOW)
    return {(r.rule, r.feature): r.count for r in validation.results}


def test_each_rule_counts_exactly_the_rows_that_break_it(tmp_path: Path) -> None:
    counts = _counts(_write(tmp_path / "faulty.parquet", FAULTY))

    assert counts == {
        ("rows", None): len(FAULTY),
        ("nulls", "amount"): 2,
        ("nan_inf", "amount"): 2,
        ("below_min", "amount"): 1,
        ("above_max", "amount"): 1,
        ("below_min", "count"): 1,
        ("above_max", "count"): 1,
        ("not_allowed", "colour"): 1,
        ("duplicates", None): 2,
        ("future_event", None): 1,
        ("created_before_event", None): 1,
    }


def test_clean_data_passes_and_warnings_do_not_fail(tmp_path: Path) -> None:
    rows = [_row("a", hour) for hour in range(5)]
    rows.append(_row("b", 0, created_timestamp=T0 - timedelta(hours=1)))
    path = _write(tmp_path / "clean.parquet", rows)
    with duckdb.connect() as con:
        validation = validate_view(con, _spec(path), now=NOW)

    assert [(r.rule, r.count) for r in validation.failures] == [("created_before_event", 1)]
    assert validation.passed
    assert validation.summary() == "created_before_event: 1 row(s)"


def test_an_empty_source_fails_the_rows_rule(tmp_path: Path) -> None:
    path = _write(tmp_path / "empty.parquet", [])
    with duckdb.connect() as con:
        validation = validate_view(con, _spec(path), now=NOW)

    assert [r.rule for r in validation.errors] == ["rows"]
    assert validation.summary() == "rows: the source has no rows"


def test_results_are_cached_by_fingerprint_until_the_file_changes(tmp_path: Path) -> None:
    path = _write(tmp_path / "things.parquet", [_row("a", 0), _row("a", 1, amount=-1.0)])
    cache = ValidationCache(tmp_path / "cache")
    with duckdb.connect() as con:
        first, first_cached = cache.validate(con, _spec(path), now=NOW)
        again, again_cached = cache.validate(con, _spec(path), now=NOW)
        _write(path, [_row("a", 0)])
        stamp = path.stat().st_mtime_ns + 1_000_000_000
        os.utime(path, ns=(stamp, stamp))
        changed, changed_cached = cache.validate(con, _spec(path), now=NOW)

    assert (first_cached, again_cached, changed_cached) == (False, True, False)
    assert again == first and first.summary() == "below_min: 1 row(s) of `amount` (< 0)"
    assert changed.passed and cache.latest("things") == changed
