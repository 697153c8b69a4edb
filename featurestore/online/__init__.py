"""The online store, and the one place that talks to Redis (one node or a Redis Cluster).

- `connection`: the client factory from `redis_url`, and Feast's matching `online_store` config;
- `layout`: Feast's key, field and value layout; `encoding`/`decoding`: its vectorized and
  scalar codecs; `binary`: the numpy byte columns they build on;
- `routing`: keys grouped by cluster slot owner, redirections followed;
- `client` (reads), `writer` and `materialize` (writes), `scan` (sampling), `errors` (redis-py
  exceptions mapped to featurestore errors).
"""

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
