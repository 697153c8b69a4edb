"""Point-in-time coverage: the share of spine rows that get a non-null, in-ttl value."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
from feast import FeatureStore

from featurestore.errors import RetrievalError
from featurestore.offline.errors import duckdb_errors
from featurestore.offline.retrieval import historical_features


@dataclass(frozen=True)
class FeaturePointInTimeCoverage:
    """How many spine rows saw a value of one feature, as known at their time."""

    name: str
    covered: int
    share: float


@dataclass(frozen=True)
class PointInTimeCoverage:
    """Per feature of one view, coverage over a spine; and rows the knowledge rule hid."""

    view: str
    rows: int
    features: tuple[FeaturePointInTimeCoverage, ...]
    hidden_by_knowledge_time: int


def point_in_time_coverage(
    store: FeatureStore,
    view: str,
    features: Sequence[str],
    spine: pa.Table,
    event_timestamp_column: str = "event_timestamp",
) -> PointInTimeCoverage:
    """Join `features` of `view` onto `spine` with the point-in-time engine and count values."""
    try:
        with duckdb_errors(
            f"join the spine to feature view `{view}`",
            "Give each join key the type of the source's column.",
        ):
            result = historical_features(
                store,
                spine,
                [f"{view}:{feature}" for feature in features],
                event_timestamp_column=event_timestamp_column,
                as_known_at=True,  # whatever the repo's Feast default, coverage is what was known
                full_feature_names=True,
            )
    except pa.ArrowException as exc:
        # Mostly a spine whose key types do not match the source's, e.g. numbers for strings.
        raise RetrievalError(
            f"Cannot join the spine to feature view `{view}`: {exc}. Give each join key the "
            "type of the source's column."
        ) from exc
    rows = result.table.num_rows
    coverage = []
    for feature in features:
        column = result.table.column(f"{view}__{feature}")
        covered = rows - column.null_count
        coverage.append(
            FeaturePointInTimeCoverage(feature, covered, round(covered / rows, 6) if rows else 0.0)
        )
    return PointInTimeCoverage(
        view=view,
        rows=rows,
        features=tuple(coverage),
        hidden_by_knowledge_time=result.hidden_by_knowledge_time.get(view, 0),
    )
