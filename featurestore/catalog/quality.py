"""The quality of one feature, as the catalog shows it: the latest validation of its view's
source, its skew against the newest training set that holds it, and its drift over time."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
from feast import FeatureStore

from featurestore.errors import FeatureStoreError
from featurestore.quality.drift import DriftReport, compute_drift
from featurestore.quality.gate import validatable_views, validation_cache
from featurestore.quality.report import Distribution, SkewFigure
from featurestore.quality.serving import serving_log_dir, serving_log_relation
from featurestore.quality.skew import compute_skew, feature_tags
from featurestore.quality.thresholds import DEFAULT_THRESHOLDS
from featurestore.quality.validate import RuleResult, ViewValidation, spec_of_view

logger = logging.getLogger(__name__)

DRIFT_WINDOW = timedelta(days=1)


@dataclass(frozen=True)
class FeatureQuality:
    """What the card's Quality section shows; parts that could not be measured say why."""

    ref: str
    validation: ViewValidation | None
    rules: tuple[RuleResult, ...]
    training_set: str | None
    served_rows: int
    skew: tuple[SkewFigure, ...]
    distribution: Distribution | None
    drift_reference: str | None
    drift_window_seconds: int
    drift_starts: tuple[str, ...]
    drift_psi: tuple[float | None, ...]
    drift_js: tuple[float | None, ...]
    psi_threshold: float = DEFAULT_THRESHOLDS["psi"]
    problems: tuple[str, ...] = field(default=())


def latest_training_set(training_dir: Path, ref: str) -> tuple[str, dict[str, Any]] | None:
    """The most recently written training set whose statistics hold `ref`."""
    found: list[tuple[int, str, dict[str, Any]]] = []
    for path in training_dir.glob("*/manifest.json"):
        try:
            manifest = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if ref in manifest.get("statistics", {}).get("features", {}):
            found.append((path.stat().st_mtime_ns, path.parent.name, manifest))
    if not found:
        return None
    _, name, manifest = max(found, key=lambda item: item[0])
    return name, manifest


def feature_quality(store: FeatureStore, data_dir: Path, view: str, feature: str) -> FeatureQuality:
    """Validation (cached by fingerprint), skew and drift of `view:feature`."""
    ref = f"{view}:{feature}"
    problems: list[str] = []
    validation = None
    drift: DriftReport | None = None
    latest = latest_training_set(data_dir / "training", ref)
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        try:
            (feature_view,) = validatable_views(store, [view])
            spec = spec_of_view(feature_view, store.config.repo_path)
            validation, _ = validation_cache(store).validate(con, spec)
            drift = compute_drift(con, spec, DRIFT_WINDOW, _reference(latest))
        except FeatureStoreError as exc:
            problems.append(str(exc))
        except duckdb.Error as exc:  # an unreadable source: say so on the card
            problems.append(f"Cannot read the source of `{view}`: {exc}")
        skew: tuple[SkewFigure, ...] = ()
        distribution = None
        served_rows = 0
        if latest is None:
            problems.append("No training set holds this feature yet, so there is no reference.")
        else:
            name, manifest = latest
            served = serving_log_relation(
                con, serving_log_dir(data_dir), feature_service=manifest.get("feature_service")
            )
            report = compute_skew(
                con, manifest, data_dir / "training" / name, served, feature_tags(store, manifest)
            )
            served_rows = report.served_rows
            skew = tuple(f for f in report.features if f.feature == ref)
            distribution = report.distributions.get(ref)
    rules: tuple[RuleResult, ...] = ()
    if validation is not None:
        rules = tuple(r for r in validation.results if r.feature in (None, feature))
    windows = drift.windows if drift is not None else ()
    psi_threshold = next((f.threshold for f in skew if f.metric == "psi"), None)
    return FeatureQuality(
        ref=ref,
        validation=validation,
        rules=rules,
        training_set=latest[0] if latest else None,
        served_rows=served_rows,
        skew=skew,
        distribution=distribution,
        drift_reference=drift.reference if drift is not None else None,
        drift_window_seconds=int(DRIFT_WINDOW.total_seconds()),
        drift_starts=tuple(w.start.isoformat() for w in windows),
        drift_psi=tuple(w.features.get(ref, (None, None))[0] for w in windows),
        drift_js=tuple(w.features.get(ref, (None, None))[1] for w in windows),
        psi_threshold=psi_threshold if psi_threshold is not None else DEFAULT_THRESHOLDS["psi"],
        problems=tuple(problems),
    )


def _reference(latest: tuple[str, dict[str, Any]] | None) -> dict[str, Any] | None:
    if latest is None:
        return None
    name, manifest = latest
    return {"name": name, "statistics": manifest["statistics"]}
