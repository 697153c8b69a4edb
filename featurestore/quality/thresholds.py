"""Default skew thresholds, and their override by a tag on the feature.

A feature field tag `skew.<metric>` (e.g. `skew.psi: "0.3"`) replaces the default for that
metric; `skew.<metric>: "off"` reports the metric without ever breaching. Defaults:

| metric           | breached when                                             | default |
|------------------|-----------------------------------------------------------|---------|
| `psi`            | population stability index over the reference bins ≥      | 0.2     |
| `js`             | Jensen–Shannon distance (base 2) over the reference bins ≥ | 0.1     |
| `ks`             | Kolmogorov–Smirnov statistic (numeric) ≥                   | 0.1     |
| `linf`           | L∞ distance between category shares (categorical) ≥       | 0.1     |
| `null_rate_diff` | served null rate − reference null rate ≥                   | 0.05    |
| `out_of_range`   | share of served values outside the declared range ≥       | 0.01    |
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, get_args

from featurestore.errors import MetadataError

Metric = Literal["psi", "js", "ks", "linf", "null_rate_diff", "out_of_range"]
METRICS: tuple[Metric, ...] = get_args(Metric)
TAG_PREFIX = "skew."

DEFAULT_THRESHOLDS: dict[Metric, float] = {
    "psi": 0.2,
    "js": 0.1,
    "ks": 0.1,
    "linf": 0.1,
    "null_rate_diff": 0.05,
    "out_of_range": 0.01,
}


def thresholds_for(
    tags: Mapping[str, str], *, owner: str = "feature"
) -> dict[Metric, float | None]:
    """The threshold of each metric for a feature with `tags` (None: reported, never breached)."""
    chosen: dict[Metric, float | None] = dict(DEFAULT_THRESHOLDS)
    for key, raw in tags.items():
        if not key.startswith(TAG_PREFIX):
            continue
        metric = key[len(TAG_PREFIX) :]
        if metric not in METRICS:
            raise MetadataError("feature", owner, f"tags[{key}]", f"names no metric of {METRICS}")
        if raw.strip().lower() == "off":
            chosen[metric] = None
            continue
        try:
            chosen[metric] = float(raw)
        except ValueError:
            raise MetadataError(
                "feature", owner, f"tags[{key}]", f"= `{raw}` is not a number or `off`"
            ) from None
    return chosen
