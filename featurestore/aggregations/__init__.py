"""Windowed aggregations declared on stream feature views: DuckDB backfill and consumer state."""

from __future__ import annotations

from featurestore.aggregations.backfill import backfill_sql
from featurestore.aggregations.declared import (
    declaration_problem,
    message_key,
    parse_schema,
    window_spec,
)
from featurestore.aggregations.spec import (
    Aggregation,
    AggregationSpecError,
    WindowSpec,
)
from featurestore.aggregations.window import Row, WindowState

__all__ = [
    "Aggregation",
    "AggregationSpecError",
    "Row",
    "WindowSpec",
    "WindowState",
    "backfill_sql",
    "declaration_problem",
    "message_key",
    "parse_schema",
    "window_spec",
]
