"""Validation of a view's batch source against its declared field semantics, in DuckDB.

Rules, each counted exactly once per offending row (so a NaN is `nan_inf`, never `above_max`):

Error level (a failure refuses the view):
- `rows`: the source has no row at all;
- `nulls`: null values of a field declared `nullable=false`;
- `nan_inf`: float values that are NaN, +inf or -inf;
- `below_min` / `above_max`: finite values outside the declared `min` / `max`;
- `not_allowed`: non-null values not in the declared `allowed` list;
- `duplicates`: rows repeating an earlier row's (keys, event time, created time).
Warning level (reported, never refusing):
- `future_event`: event times after the time of the check;
- `created_before_event`: created times before the event time.

All feature rules and the time rules are one scan; duplicates are a second (a hash aggregate).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import duckdb
from feast import FeatureView
from feast.infra.offline_stores.file_source import FileSource

from featurestore.errors import RetrievalError, SourceDataError
from featurestore.metadata import FieldSemantics, parse_semantics
from featurestore.offline.feast_sources import source_location
from featurestore.offline.source import SourceLocation, ViewSource, check_source
from featurestore.sql import quote_ident, quote_literal

Level = Literal["error", "warning"]
OnViolation = Literal["warn", "fail"]
ON_VIOLATION_TAG = "featurestore.on_violation"
NUMERIC_TYPES = {"Int32", "Int64", "Float32", "Float64"}
FLOAT_TYPES = {"Float32", "Float64"}
RULE_LEVELS: dict[str, Level] = {
    "rows": "error",
    "nulls": "error",
    "nan_inf": "error",
    "below_min": "error",
    "above_max": "error",
    "not_allowed": "error",
    "duplicates": "error",
    "future_event": "warning",
    "created_before_event": "warning",
}


@dataclass(frozen=True)
class FeatureRules:
    """One feature with its type name (`Float64`, `String`, …) and declared semantics."""

    name: str
    dtype: str
    semantics: FieldSemantics = field(default_factory=FieldSemantics)


@dataclass(frozen=True)
class ValidationSpec:
    """What to check: one view's source, its keys and timestamps, and its features' rules."""

    view: str
    location: SourceLocation
    join_keys: tuple[str, ...]
    timestamp_field: str
    created_timestamp_field: str | None
    features: tuple[FeatureRules, ...]
    on_violation: OnViolation = "fail"


@dataclass(frozen=True)
class RuleResult:
    """One rule on one feature (or the whole source, `feature` None): how many rows broke it."""

    rule: str
    feature: str | None
    count: int
    failed: bool
    level: Level
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "feature": self.feature,
            "count": self.count,
            "failed": self.failed,
            "level": self.level,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class ViewValidation:
    """Every rule checked on one view's source, when, and on which data (fingerprint)."""

    view: str
    source: str
    fingerprint: str | None
    checked_at: datetime
    seconds: float
    rows: int
    on_violation: OnViolation
    results: tuple[RuleResult, ...]

    @property
    def failures(self) -> tuple[RuleResult, ...]:
        return tuple(result for result in self.results if result.failed)

    @property
    def errors(self) -> tuple[RuleResult, ...]:
        return tuple(result for result in self.failures if result.level == "error")

    @property
    def passed(self) -> bool:
        """True when no error-level rule failed (warnings do not fail a view)."""
        return not self.errors

    def summary(self) -> str:
        """`rule` count pairs of the failed rules, e.g. `above_max (temp > 120): 3 rows`."""
        return "; ".join(_describe(result) for result in self.failures) or "all rules pass"

    def to_json(self) -> dict[str, Any]:
        return {
            "view": self.view,
            "source": self.source,
            "fingerprint": self.fingerprint,
            "checked_at": self.checked_at.isoformat(),
            "seconds": self.seconds,
            "rows": self.rows,
            "on_violation": self.on_violation,
            "passed": self.passed,
            "results": [result.to_json() for result in self.results],
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ViewValidation:
        return cls(
            view=raw["view"],
            source=raw["source"],
            fingerprint=raw["fingerprint"],
            checked_at=datetime.fromisoformat(raw["checked_at"]),
            seconds=float(raw["seconds"]),
            rows=int(raw["rows"]),
            on_violation=raw["on_violation"],
            results=tuple(RuleResult(**result) for result in raw["results"]),
        )


class ValidationFailedError(SourceDataError):
    """A view's source breaks an error-level rule, so it is not used to train or serve."""

    def __init__(self, validation: ViewValidation) -> None:
        self.validation = validation
        super().__init__(
            f"Feature view `{validation.view}` fails validation: "
            f"{'; '.join(_describe(r) for r in validation.errors)}. Fix the source, or tag the "
            f"view `{ON_VIOLATION_TAG}: warn`, or pass `--allow-invalid` "
            "(`featurestore validate` shows every rule)."
        )


def spec_of_view(view: FeatureView, repo_path: Path | None) -> ValidationSpec:
    """The rules of a (batch or stream) Feast feature view over its Parquet batch source."""
    source = view.batch_source
    if not isinstance(source, FileSource):
        raise RetrievalError(
            f"Feature view `{view.name}` reads a {type(source).__name__}; validation reads "
            "Parquet FileSources."
        )
    join_keys = tuple(view.join_keys)
    on_violation = view.tags.get(ON_VIOLATION_TAG, "fail")
    if on_violation not in ("warn", "fail"):
        raise SourceDataError(
            f"Tag `{ON_VIOLATION_TAG}` of feature view `{view.name}` is `{on_violation}`; use "
            "`warn` or `fail`."
        )
    return ValidationSpec(
        view=view.name,
        location=source_location(source, repo_path),
        join_keys=join_keys,
        timestamp_field=source.timestamp_field,
        created_timestamp_field=source.created_timestamp_column or None,
        features=tuple(
            FeatureRules(f.name, str(f.dtype), parse_semantics(f.tags))
            for f in view.features
            if f.name not in join_keys  # a stream view lists its entity columns as features
        ),
        on_violation="warn" if on_violation == "warn" else "fail",
    )


def validate_view(
    con: duckdb.DuckDBPyConnection, spec: ValidationSpec, *, now: datetime | None = None
) -> ViewValidation:
    """Check every rule of `spec` on its source: one scan for the row rules, one for duplicates."""
    began = time.perf_counter()
    now = now or datetime.now(UTC)
    checked = check_source(
        con,
        ViewSource(
            name=spec.view,
            location=spec.location,
            join_keys=spec.join_keys,
            features=tuple(f.name for f in spec.features),
            timestamp_field=spec.timestamp_field,
            created_timestamp_field=spec.created_timestamp_field,
        ),
    )
    checks: list[tuple[str, str | None, str, str]] = []  # rule, feature, condition, detail
    for feature in spec.features:
        checks.extend(_feature_checks(feature))
    event = checked.event_sql
    checks.append(("future_event", None, f"{event} > {_timestamp(now)}", f"after {now:%Y-%m-%d}"))
    if checked.created_sql is not None:
        checks.append(("created_before_event", None, f"{checked.created_sql} < {event}", ""))
    selects = ["count(*)", *(f"count(*) FILTER (WHERE {check[2]})" for check in checks)]
    try:
        row = con.execute(f"SELECT {', '.join(selects)} FROM {spec.location.sql}").fetchall()[0]
        duplicates = _duplicates(con, spec)
    except duckdb.Error as exc:
        raise SourceDataError(
            f"Cannot validate feature view `{spec.view}` (`{spec.location.sql}`): {exc}. Check "
            "that the source has the view's columns and types."
        ) from exc
    assert row is not None  # an aggregate without GROUP BY returns one row
    rows = int(row[0])
    results = [RuleResult("rows", None, rows, rows == 0, "error", "the source has no rows")]
    for (rule, name, _, detail), count in zip(checks, row[1:], strict=True):
        results.append(RuleResult(rule, name, int(count), count > 0, RULE_LEVELS[rule], detail))
    keys = ", ".join((*spec.join_keys, spec.timestamp_field, spec.created_timestamp_field or ""))
    results.append(
        RuleResult("duplicates", None, duplicates, duplicates > 0, "error", keys.rstrip(", "))
    )
    return ViewValidation(
        view=spec.view,
        source=spec.location.path or spec.location.sql,
        fingerprint=spec.location.fingerprint(),
        checked_at=now,
        seconds=round(time.perf_counter() - began, 4),
        rows=rows,
        on_violation=spec.on_violation,
        results=tuple(results),
    )


def _feature_checks(feature: FeatureRules) -> list[tuple[str, str | None, str, str]]:
    column = quote_ident(feature.name)
    rules = feature.semantics
    checks: list[tuple[str, str | None, str, str]] = []
    if not rules.nullable:
        checks.append(("nulls", feature.name, f"{column} IS NULL", "declared not nullable"))
    numeric = feature.dtype in NUMERIC_TYPES
    # DuckDB orders NaN above every number: only finite values are compared with the range.
    finite = ""
    if feature.dtype in FLOAT_TYPES:
        checks.append(("nan_inf", feature.name, f"NOT isfinite({column})", ""))
        finite = f" AND isfinite({column})"
    if numeric and rules.min is not None:
        below = f"{column} < {rules.min!r}{finite}"
        checks.append(("below_min", feature.name, below, f"< {rules.min:g}"))
    if numeric and rules.max is not None:
        above = f"{column} > {rules.max!r}{finite}"
        checks.append(("above_max", feature.name, above, f"> {rules.max:g}"))
    if rules.allowed is not None:
        listed = ", ".join(quote_literal(value) for value in rules.allowed)
        checks.append(
            (
                "not_allowed",
                feature.name,
                f"{column}::VARCHAR NOT IN ({listed})",
                f"not in {','.join(rules.allowed)}",
            )
        )
    return checks


def _duplicates(con: duckdb.DuckDBPyConnection, spec: ValidationSpec) -> int:
    """Rows beyond the first of each (keys, event, created) group.

    Grouping by one 64-bit hash of the columns is about twice as fast as grouping by the
    columns; only rows whose hash repeats are then grouped by the columns themselves, so a
    hash collision never counts as a duplicate."""
    columns = [*spec.join_keys, spec.timestamp_field]
    if spec.created_timestamp_field:
        columns.append(spec.created_timestamp_field)
    group = ", ".join(quote_ident(name) for name in dict.fromkeys(columns))
    row = con.execute(
        f"""
        WITH repeated AS (
            SELECT hash({group}) AS h FROM {spec.location.sql} GROUP BY h HAVING count(*) > 1
        )
        SELECT coalesce(sum(n - 1), 0) FROM (
            SELECT count(*) AS n FROM {spec.location.sql}
            WHERE hash({group}) IN (SELECT h FROM repeated)
            GROUP BY {group} HAVING count(*) > 1
        )
        """
    ).fetchall()[0]
    return int(row[0]) if row else 0


def _timestamp(moment: datetime) -> str:
    return f"{quote_literal(moment.astimezone(UTC).isoformat())}::TIMESTAMPTZ"


def _describe(result: RuleResult) -> str:
    """`above_max: 3 row(s) of `temp` (> 120)`, or `rows: the source has no rows`."""
    if result.rule == "rows":
        return "rows: the source has no rows"
    where = f" of `{result.feature}`" if result.feature else ""
    detail = f" ({result.detail})" if result.detail else ""
    return f"{result.rule}: {result.count:,} row(s){where}{detail}"


def failing(validations: Sequence[ViewValidation]) -> list[ViewValidation]:
    """The validations with an error-level failure."""
    return [validation for validation in validations if not validation.passed]
