"""Online freshness: event times from a bounded SCAN sample of a view's Redis hashes."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from featurestore.errors import FeatureStoreError
from featurestore.online.connection import RedisClient
from featurestore.online.scan import sample_event_times


@dataclass(frozen=True)
class OnlineFreshness:
    """How fresh a sample of a view's online values is; `error` says why there is no sample."""

    view: str
    sampled_keys: int
    with_value: int
    latest: datetime | None
    oldest: datetime | None
    median_age_seconds: float | None
    expired_share: float | None
    error: str | None = None


def online_freshness(
    client: RedisClient,
    project: str,
    view: str,
    join_keys: Sequence[str],
    ttl_seconds: float | None,
    *,
    sample: int = 500,
    max_scans: int = 20,
    now: datetime | None = None,
) -> OnlineFreshness:
    """Event times of at most `sample` keys found in at most `max_scans` SCAN calls per master;
    a Redis failure is reported in `error`, not raised (freshness is a side panel)."""
    now = now or datetime.now(UTC)
    try:
        sampled, times = sample_event_times(
            client, project, view, join_keys, sample=sample, max_scans=max_scans
        )
    except FeatureStoreError as exc:
        return OnlineFreshness(view, 0, 0, None, None, None, None, error=f"Redis: {exc}")
    if not times:
        return OnlineFreshness(view, sampled, 0, None, None, None, None)
    ages = [(now - moment).total_seconds() for moment in times]
    expired = sum(1 for age in ages if age > ttl_seconds) / len(ages) if ttl_seconds else 0.0
    return OnlineFreshness(
        view=view,
        sampled_keys=sampled,
        with_value=len(times),
        latest=times[-1],
        oldest=times[0],
        median_age_seconds=statistics.median(ages),
        expired_share=round(expired, 6),
    )
