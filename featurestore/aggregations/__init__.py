"""Windowed aggregations defined once: DuckDB backfill and incremental consumer state."""

from __future__ import annotations

from featurestore.aggregations.backfill import backfill_sql
from featurestore.aggregations.spec import (
    Aggregation,
    AggregationSpecError,
    Indicator,
    WindowSpec,
)
from featurestore.aggregations.window import Row, WindowState

__all__ = [
    "Aggregation",
    "AggregationSpecError",
    "Indicator",
    "Row",
    "WindowSpec",
    "WindowState",
    "backfill_sql",
]
