"""The online store: Feast's Redis format written vectorized, read with freshness, served."""

from __future__ import annotations

from featurestore.online.client import OnlineClient, OnlineFeatures, Status
from featurestore.online.materialize import (
    ViewMaterialized,
    materialize,
    materialize_incremental,
)
from featurestore.online.serving_log import ServingLog
from featurestore.online.writer import OnlineWriter, WriteResult

__all__ = [
    "OnlineClient",
    "OnlineFeatures",
    "OnlineWriter",
    "ServingLog",
    "Status",
    "ViewMaterialized",
    "WriteResult",
    "materialize",
    "materialize_incremental",
]
