"""The skew report: one figure per feature and metric, with its threshold and verdict.

JSON shape (stable; other tools read it):
`{"training_set": str, "feature_service": str | null, "served_rows": int,
  "features": [{"feature": "view:name", "metric": "psi"|"js"|"ks"|"linf"|"null_rate_diff"|
  "out_of_range", "value": float | null, "threshold": float | null, "breached": bool}, …]}`
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from featurestore.quality.thresholds import Metric


@dataclass(frozen=True)
class SkewFigure:
    """One metric of one feature; `value` is None when there was nothing to compare."""

    feature: str
    metric: Metric
    value: float | None
    threshold: float | None

    @property
    def breached(self) -> bool:
        return (
            self.value is not None and self.threshold is not None and self.value >= self.threshold
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "metric": self.metric,
            "value": None if self.value is None else round(self.value, 6),
            "threshold": self.threshold,
            "breached": self.breached,
        }


@dataclass(frozen=True)
class Distribution:
    """One feature's bins (labels) with the reference's and the served counts per bin."""

    labels: tuple[str, ...]
    reference: tuple[int, ...]
    served: tuple[int, ...]


@dataclass(frozen=True)
class SkewReport:
    """Training-vs-serving skew of a training set's features."""

    training_set: str
    feature_service: str | None
    served_rows: int
    features: tuple[SkewFigure, ...]
    distributions: Mapping[str, Distribution] = field(default_factory=dict)
    """Per feature ref, the binned counts the figures were computed on (not in the JSON)."""

    @property
    def breached(self) -> tuple[SkewFigure, ...]:
        return tuple(figure for figure in self.features if figure.breached)

    def to_json(self) -> dict[str, Any]:
        return {
            "training_set": self.training_set,
            "feature_service": self.feature_service,
            "served_rows": self.served_rows,
            "features": [figure.to_json() for figure in self.features],
        }
