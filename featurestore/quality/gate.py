"""Validate the views of a Feast store before their data trains or serves a model.

`materialize` and training sets call `require_valid`: a view that breaks an error-level rule
is refused unless its tag `featurestore.on_violation` is `warn` or the caller allows invalid
data; then the failure becomes a warning.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from feast import FeatureStore, FeatureView

from featurestore.offline.engine import OfflineEngine
from featurestore.quality.validate import ValidationFailedError, ViewValidation, spec_of_view
from featurestore.quality.validation_cache import ValidationCache
from featurestore.registry import Registry
from featurestore.repo import data_dir_of


def validation_cache_dir(data_dir: Path) -> Path:
    """Where validation results of a data dir are cached."""
    return data_dir / "catalog" / "validation"


def validation_cache(store: FeatureStore) -> ValidationCache:
    return ValidationCache(validation_cache_dir(data_dir_of(store)))


def validatable_views(store: FeatureStore, names: Sequence[str] | None = None) -> list[FeatureView]:
    """The named batch and stream feature views, or all of them, in registry order."""
    registry = Registry(store)
    if not names:
        return registry.feature_views()
    return [registry.feature_view(name) for name in dict.fromkeys(names)]


def validate_store_views(
    store: FeatureStore, names: Sequence[str] | None = None
) -> list[ViewValidation]:
    """Validate each view's source (cached by fingerprint)."""
    cache = validation_cache(store)
    repo_path = store.config.repo_path
    with OfflineEngine(store.config.offline_store) as engine:
        return [
            cache.validate(engine.connection, spec_of_view(view, repo_path))[0]
            for view in validatable_views(store, names)
        ]


def require_valid(
    store: FeatureStore, view_names: Iterable[str], *, allow_invalid: bool = False
) -> list[str]:
    """Refuse the first view that fails validation (ValidationFailedError); the warnings of
    views that fail but may be used (tag `warn`, or `allow_invalid`) are returned."""
    warnings = []
    for validation in validate_store_views(store, list(dict.fromkeys(view_names))):
        if validation.passed:
            continue
        if validation.on_violation == "fail" and not allow_invalid:
            raise ValidationFailedError(validation)
        warnings.append(
            f"Feature view `{validation.view}` fails validation, used anyway: "
            f"{validation.summary()}."
        )
    return warnings
