"""Response schemas of a feature's quality: validation, training-vs-serving skew, drift."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from featurestore.catalog.quality import FeatureQuality


class RuleOut(BaseModel):
    """One validation rule on the feature or on its view's whole source."""

    rule: str = Field(description="Rule name, e.g. `above_max`, `duplicates`.")
    feature: str | None = Field(description="The feature it checks; null for source rules.")
    count: int = Field(description="Rows breaking it (for `rows`: rows in the source).")
    failed: bool = Field(description="Whether the rule failed.")
    level: Literal["error", "warning"] = Field(description="An error refuses the view.")
    detail: str = Field(description="What was checked, e.g. `> 120`.")


class ValidationOut(BaseModel):
    """The latest validation of the view's source."""

    checked_at: datetime = Field(description="When the rules were checked.")
    fingerprint: str | None = Field(description="Fingerprint of the files checked.")
    rows: int = Field(description="Rows in the source.")
    passed: bool = Field(description="No error-level rule failed.")
    on_violation: Literal["warn", "fail"] = Field(description="What a failure does.")
    rules: list[RuleOut] = Field(description="Rules of this feature and of the source.")


class SkewFigureOut(BaseModel):
    """One skew metric with its threshold."""

    metric: Literal["psi", "js", "ks", "linf", "null_rate_diff", "out_of_range"] = Field(
        description="The metric."
    )
    value: float | None = Field(description="Its value; null when nothing was served.")
    threshold: float | None = Field(description="Breach threshold; null when turned off.")
    breached: bool = Field(description="value >= threshold.")


class DistributionOut(BaseModel):
    """The reference's and the served counts per bin of the feature."""

    labels: list[str] = Field(description="Bin ranges or category values.")
    reference: list[int] = Field(description="Training-set rows per bin.")
    served: list[int] = Field(description="Served values per bin.")


class DriftOut(BaseModel):
    """PSI and JS distance of the source per window against the reference."""

    reference: str = Field(description="The training set, or the first window.")
    window_seconds: int = Field(description="Length of each window.")
    starts: list[str] = Field(description="Start of each window (ISO 8601, UTC).")
    psi: list[float | None] = Field(description="PSI per window.")
    js: list[float | None] = Field(description="JS distance per window.")


class FeatureQualityOut(BaseModel):
    """Validation, skew and drift of one feature, as on its card's Quality section."""

    feature: str = Field(description="`view:name`.")
    validation: ValidationOut | None = Field(description="Latest validation of the source.")
    training_set: str | None = Field(description="Newest training set holding the feature.")
    served_rows: int = Field(description="Served rows compared with it.")
    skew: list[SkewFigureOut] = Field(description="Skew figures of the feature.")
    distribution: DistributionOut | None = Field(description="Binned counts compared.")
    drift: DriftOut | None = Field(description="Drift per day of the source.")
    problems: list[str] = Field(description="Why a part could not be measured.")

    @classmethod
    def of(cls, quality: FeatureQuality) -> FeatureQualityOut:
        validation = quality.validation
        return cls(
            feature=quality.ref,
            validation=ValidationOut(
                checked_at=validation.checked_at,
                fingerprint=validation.fingerprint,
                rows=validation.rows,
                passed=validation.passed,
                on_violation=validation.on_violation,
                rules=[RuleOut(**rule.to_json()) for rule in quality.rules],
            )
            if validation is not None
            else None,
            training_set=quality.training_set,
            served_rows=quality.served_rows,
            skew=[
                SkewFigureOut(
                    metric=f.metric, value=f.value, threshold=f.threshold, breached=f.breached
                )
                for f in quality.skew
            ],
            distribution=DistributionOut(
                labels=list(quality.distribution.labels),
                reference=list(quality.distribution.reference),
                served=list(quality.distribution.served),
            )
            if quality.distribution is not None
            else None,
            drift=DriftOut(
                reference=quality.drift_reference,
                window_seconds=quality.drift_window_seconds,
                starts=list(quality.drift_starts),
                psi=list(quality.drift_psi),
                js=list(quality.drift_js),
            )
            if quality.drift_reference is not None
            else None,
            problems=list(quality.problems),
        )
