"""Response models of coverage and freshness, built from the catalog's measurements."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field

from featurestore.catalog.coverage import FeatureStats, ViewStats
from featurestore.catalog.freshness import OnlineFreshness
from featurestore.catalog.pit_coverage import PointInTimeCoverage


class Bin(BaseModel):
    """A histogram bin: values in [lower, upper)."""

    lower: float = Field(description="Lower bound (inclusive).")
    upper: float = Field(description="Upper bound (exclusive, except for the last bin).")
    count: int = Field(description="Rows with a value in the bin.")


class ValueCount(BaseModel):
    """A frequent value of a categorical feature."""

    value: str = Field(description="The value.")
    count: int = Field(description="Rows with it.")


class FeatureCoverage(BaseModel):
    """Completeness and distribution of one feature in the view's offline data."""

    name: str = Field(description="Feature name.")
    dtype: str = Field(description="Feast type.")
    non_null: int = Field(description="Rows with a value.")
    null_rate: float = Field(description="Share of rows without a value.")
    entity_coverage: float = Field(description="Share of entities with at least one value.")
    min: float | None = Field(description="Smallest value (numeric features).")
    max: float | None = Field(description="Largest value (numeric features).")
    mean: float | None = Field(description="Mean value (numeric features).")
    histogram: list[Bin] = Field(description="Equal-width histogram (numeric features).")
    top_values: list[ValueCount] = Field(description="Most frequent values (strings, booleans).")

    @classmethod
    def of(cls, stats: FeatureStats) -> FeatureCoverage:
        return cls(
            name=stats.name,
            dtype=stats.dtype,
            non_null=stats.non_null,
            null_rate=stats.null_rate,
            entity_coverage=stats.entity_coverage,
            min=stats.min,
            max=stats.max,
            mean=stats.mean,
            histogram=[Bin(lower=b.lower, upper=b.upper, count=b.count) for b in stats.histogram],
            top_values=[ValueCount(value=v.value, count=v.count) for v in stats.top_values],
        )


class OfflineFreshness(BaseModel):
    """When the newest offline row happened and was created."""

    last_event: datetime | None = Field(description="Latest event time in the source.")
    last_created: datetime | None = Field(description="Latest created (publication) time.")
    age_seconds: float | None = Field(description="Seconds since the latest event time.")

    @classmethod
    def of(cls, stats: ViewStats) -> OfflineFreshness:
        age = (datetime.now(UTC) - stats.last_event).total_seconds() if stats.last_event else None
        return cls(last_event=stats.last_event, last_created=stats.last_created, age_seconds=age)


class ViewCoverage(BaseModel):
    """Coverage of a feature view's offline data; computed with DuckDB, cached by fingerprint."""

    view: str = Field(description="Feature view.")
    source_path: str = Field(description="Parquet file, folder or glob read.")
    fingerprint: str = Field(description="SHA-256 of the files' paths, sizes and mtimes.")
    cached: bool = Field(description="Whether the result came from the cache.")
    computed_at: datetime = Field(description="When it was computed.")
    seconds: float = Field(description="How long computing took.")
    rows: int = Field(description="Rows in the source.")
    entities: int = Field(description="Distinct entity keys.")
    first_event: datetime | None = Field(description="Earliest event time.")
    last_event: datetime | None = Field(description="Latest event time.")
    offline_freshness: OfflineFreshness = Field(description="Latest event and created time.")
    features: list[FeatureCoverage] = Field(description="Per feature.")

    @classmethod
    def of(cls, stats: ViewStats, cached: bool) -> ViewCoverage:
        return cls(
            view=stats.view,
            source_path=stats.path,
            fingerprint=stats.fingerprint,
            cached=cached,
            computed_at=stats.computed_at,
            seconds=stats.seconds,
            rows=stats.rows,
            entities=stats.entities,
            first_event=stats.first_event,
            last_event=stats.last_event,
            offline_freshness=OfflineFreshness.of(stats),
            features=[FeatureCoverage.of(feature) for feature in stats.features],
        )


class OnlineFreshnessOut(BaseModel):
    """Event times of a bounded sample of the view's values in Redis."""

    sampled_keys: int = Field(description="Entity keys sampled with SCAN.")
    with_value: int = Field(description="Sampled keys holding a value of the view.")
    latest: datetime | None = Field(description="Newest event time in the sample.")
    oldest: datetime | None = Field(description="Oldest event time in the sample.")
    median_age_seconds: float | None = Field(description="Median age of the sampled values.")
    expired_share: float | None = Field(description="Share older than the view's ttl.")
    error: str | None = Field(description="Why there is no sample, e.g. Redis unreachable.")

    @classmethod
    def of(cls, fresh: OnlineFreshness) -> OnlineFreshnessOut:
        return cls(
            sampled_keys=fresh.sampled_keys,
            with_value=fresh.with_value,
            latest=fresh.latest,
            oldest=fresh.oldest,
            median_age_seconds=fresh.median_age_seconds,
            expired_share=fresh.expired_share,
            error=fresh.error,
        )


class Freshness(BaseModel):
    """Offline and online freshness of a feature view."""

    view: str = Field(description="Feature view.")
    ttl_seconds: float | None = Field(description="The view's ttl; null = never expires.")
    offline: OfflineFreshness | None = Field(description="From the offline source, if any.")
    offline_error: str | None = Field(description="Why offline freshness is unknown.")
    online: OnlineFreshnessOut = Field(description="From a sample of Redis timestamps.")


class PointInTimeFeature(BaseModel):
    """Point-in-time coverage of one feature over the given spine."""

    name: str = Field(description="Feature name.")
    covered: int = Field(description="Spine rows that got a non-null, in-ttl value.")
    share: float = Field(description="covered / rows.")


class PointInTimeCoverageOut(BaseModel):
    """Share of spine rows that get a value, as known at each row's time."""

    view: str = Field(description="Feature view.")
    rows: int = Field(description="Spine rows.")
    hidden_by_knowledge_time: int = Field(
        description="Rows whose value was hidden because it was not yet published."
    )
    features: list[PointInTimeFeature] = Field(description="Per feature.")

    @classmethod
    def of(cls, coverage: PointInTimeCoverage) -> PointInTimeCoverageOut:
        return cls(
            view=coverage.view,
            rows=coverage.rows,
            hidden_by_knowledge_time=coverage.hidden_by_knowledge_time,
            features=[
                PointInTimeFeature(name=f.name, covered=f.covered, share=f.share)
                for f in coverage.features
            ],
        )


MAX_SPINE_ROWS = 100_000


class SpineIn(BaseModel):
    """Entity rows (join keys and an event time) to measure point-in-time coverage over."""

    model_config = ConfigDict(extra="forbid")

    entity_rows: list[dict[str, str | int | float | bool | None]] = Field(
        min_length=1,
        max_length=MAX_SPINE_ROWS,
        description='Rows such as `{"customer_id": 1001, "event_timestamp": '
        '"2026-06-01T12:00:00Z"}`.',
    )
    features: list[str] = Field(default_factory=list, description="Features; empty = all.")
    event_timestamp_column: str = Field(
        default="event_timestamp", min_length=1, description="Name of the event time field."
    )

    def to_table(self) -> pa.Table:
        """The rows as an Arrow table, event times parsed as UTC (naive ones taken as UTC)."""
        column = self.event_timestamp_column
        rows = []
        for index, row in enumerate(self.entity_rows):
            value = row.get(column)
            try:
                moment = datetime.fromisoformat(str(value))
                utc = (
                    moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
                )
            except (ValueError, OverflowError):
                # OverflowError: e.g. 9999-12-31T23:59:59-01:00 is past the last UTC year.
                raise RequestValidationError(
                    [
                        {
                            "loc": ("body", "entity_rows", index, column),
                            "msg": f"`{value}` is not an ISO 8601 time between years 1 and "
                            "9999 UTC, e.g. 2013-06-01T12:00:00Z",
                            "type": "datetime_parsing",
                        }
                    ]
                ) from None
            rows.append({**row, column: utc})
        try:
            return pa.Table.from_pylist(rows)
        except pa.ArrowException as exc:
            raise RequestValidationError(
                [
                    {
                        "loc": ("body", "entity_rows"),
                        "msg": f"rows must give each field one type ({exc})",
                        "type": "value_error",
                    }
                ]
            ) from None
