"""Translate Feast feature views, services and feature refs into point-in-time join inputs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from feast import FeatureService, FeatureStore, FeatureView
from feast.errors import FeastObjectNotFoundException
from feast.infra.offline_stores.file_source import FileSource

from featurestore.errors import RetrievalError
from featurestore.offline.pit import ViewSource
from featurestore.sql import quote_literal

FeatureSelection = FeatureService | Sequence[str]


def view_sources(store: FeatureStore, features: FeatureSelection) -> list[ViewSource]:
    """One ViewSource per feature view used by a feature service or `view:feature` refs."""
    wanted = _wanted_features(store, features)
    return [_view_source(store, view_name, names) for view_name, names in wanted.items()]


def _wanted_features(store: FeatureStore, features: FeatureSelection) -> dict[str, list[str]]:
    wanted: dict[str, list[str]] = {}
    if isinstance(features, FeatureService):
        for projection in features.feature_view_projections:
            names = [field.name for field in projection.features]
            wanted.setdefault(projection.name, []).extend(names)
        return wanted
    for ref in features:
        view_name, sep, feature_name = ref.partition(":")
        if not sep or not view_name or not feature_name:
            raise RetrievalError(
                f"Feature ref `{ref}` is not of the form `view:feature`, "
                "e.g. `weather_hourly:temp`."
            )
        wanted.setdefault(view_name, []).append(feature_name)
    return wanted


def _view_source(store: FeatureStore, view_name: str, names: list[str]) -> ViewSource:
    try:
        view = store.registry.get_any_feature_view(view_name, store.project)
    except FeastObjectNotFoundException:
        raise RetrievalError(
            f"Feature view `{view_name}` is not registered in project `{store.project}`; "
            "run `featurestore apply` or check the name."
        ) from None
    if not isinstance(view, FeatureView):
        raise RetrievalError(
            f"`{view_name}` is a {type(view).__name__}; only batch and stream feature views can "
            "be joined point in time."
        )
    known = {field.name for field in view.features}
    for name in names:
        if name not in known:
            raise RetrievalError(
                f"Feature `{view_name}:{name}` does not exist; `{view_name}` has {sorted(known)}."
            )
    source = view.batch_source
    if not isinstance(source, FileSource):
        raise RetrievalError(
            f"Feature view `{view_name}` reads a {type(source).__name__}; the point-in-time engine "
            "reads Parquet FileSources."
        )
    path = FileSource.get_uri_for_file_path(store.config.repo_path, source.path)
    ttl = view.ttl if view.ttl and view.ttl > timedelta(0) else None
    return ViewSource(
        name=view_name,
        table=f"read_parquet({quote_literal(path)})",
        join_keys=tuple(view.join_keys),
        features=tuple(dict.fromkeys(names)),
        timestamp_field=source.timestamp_field,
        created_timestamp_field=source.created_timestamp_column or None,
        ttl=ttl,
    )
