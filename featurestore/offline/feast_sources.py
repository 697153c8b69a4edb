"""Translate Feast feature views, services and feature refs into point-in-time join inputs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from feast import FeatureService, FeatureStore, FeatureView
from feast.errors import FeastObjectNotFoundException
from feast.infra.offline_stores.file_source import FileSource

from featurestore.errors import RetrievalError
from featurestore.offline.source import SourceLocation, ViewSource

FeatureSelection = FeatureService | Sequence[str]

KNOWLEDGE_TIME_TAG = "featurestore.knowledge_time"
"""Tag on a data source: `ignore` makes its created timestamp only break ties, never hide rows
(for sources backfilled in one load, whose created times are all the load time)."""


def view_sources(store: FeatureStore, features: FeatureSelection) -> list[ViewSource]:
    """One ViewSource per feature view used by a feature service or `view:feature` refs."""
    wanted = _wanted_features(features)
    sources = []
    for view_name, names in wanted.items():
        view = _registered_view(store, view_name)
        sources.append(source_of_view(view, names, store.config.repo_path))
    return sources


def source_of_view(
    view: FeatureView, features: Sequence[str], repo_path: Path | None
) -> ViewSource:
    """The join input for `features` of one (possibly projected) Feast feature view."""
    name = view.projection.name_to_use() if view.projection else view.name
    known = {field.name for field in view.features}
    for feature in features:
        if feature not in known:
            raise RetrievalError(
                f"Feature `{name}:{feature}` does not exist; `{name}` has {sorted(known)}."
            )
    source = view.batch_source
    if not isinstance(source, FileSource):
        raise RetrievalError(
            f"Feature view `{name}` reads a {type(source).__name__}; the point-in-time engine "
            "reads Parquet FileSources."
        )
    join_keys = tuple(column.name for column in view.entity_columns)
    key_map = view.projection.join_key_map if view.projection else {}
    ttl = view.ttl if view.ttl and view.ttl > timedelta(0) else None
    created = source.created_timestamp_column or None
    if source.tags.get(KNOWLEDGE_TIME_TAG) == "ignore":
        created = None
    return ViewSource(
        name=name,
        location=source_location(source, repo_path),
        join_keys=join_keys,
        features=tuple(dict.fromkeys(features)),
        timestamp_field=source.timestamp_field,
        created_timestamp_field=created,
        ttl=ttl,
        spine_join_keys=tuple(key_map.get(key, key) for key in join_keys) if key_map else (),
    )


def source_location(
    source: FileSource, repo_path: Path | None, *, mapped: bool = True
) -> SourceLocation:
    """Where a FileSource's rows are: its Parquet (a file or a folder of files), with its field
    mapping as renames unless `mapped` is false."""
    path = FileSource.get_uri_for_file_path(repo_path, source.path)
    return SourceLocation.parquet(path, dict(source.field_mapping or {}) if mapped else None)


def source_table_expression(
    source: FileSource, repo_path: Path | None, *, mapped: bool = True
) -> str:
    """A DuckDB table expression reading the source's Parquet, with its field mapping applied
    unless `mapped` is false."""
    return source_location(source, repo_path, mapped=mapped).sql


def _wanted_features(features: FeatureSelection) -> dict[str, list[str]]:
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
                f"Feature ref `{ref}` is not of the form `view:feature`; name a registered "
                "feature view and one of its features."
            )
        wanted.setdefault(view_name, []).append(feature_name)
    return wanted


def _registered_view(store: FeatureStore, view_name: str) -> FeatureView:
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
    return view
