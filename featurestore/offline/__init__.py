"""The offline store: point-in-time correct training data from Parquet through DuckDB."""

from __future__ import annotations

from featurestore.offline.pit import PointInTimeResult, ViewSource, point_in_time_join

__all__ = ["PointInTimeResult", "ViewSource", "point_in_time_join"]
