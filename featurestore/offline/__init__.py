"""The offline store: point-in-time correct training data from Parquet through DuckDB."""

from __future__ import annotations

from featurestore.offline.engine import OfflineEngine
from featurestore.offline.pit import PointInTimeResult, point_in_time_join
from featurestore.offline.source import SourceLocation, ViewSource

__all__ = [
    "OfflineEngine",
    "PointInTimeResult",
    "SourceLocation",
    "ViewSource",
    "point_in_time_join",
]
