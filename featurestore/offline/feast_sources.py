"""Translate Feast feature views, services and feature refs into point-in-time join inputs,
resolved through the registry facade (`featurestore.registry`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from feast import FeatureService, FeatureStore, FeatureView
from feast.infra.offline_stores.file_source import FileSource

from featurestore.offline.source import ViewSource
from featurestore.registry import (
    KNOWLEDGE_TIME_TAG,
    Registry,
    resolve_view,
    source_location,
)

FeatureSelection = FeatureService | Sequence[str]

__all__ = [
    "KNOWLEDGE_TIME_TAG",
    "FeatureSelection",
    "source_location",
    "source_of_view",
    "source_table_expression",
    "view_sources",
]


def view_sources(store: FeatureStore, features: FeatureSelection) -> list[ViewSource]:
    """One ViewSource per feature view used by a feature service or `view:feature` refs."""
    return [view.view_source() for view in Registry(store).resolve(features).views]


def source_of_view(
    view: FeatureView, features: Sequence[str], repo_path: Path | None
) -> ViewSource:
    """The join input for `features` of one (possibly projected) Feast feature view."""
    return resolve_view(view, features, repo_path).view_source()


def source_table_expression(
    source: FileSource, repo_path: Path | None, *, mapped: bool = True
) -> str:
    """A DuckDB table expression reading the source's Parquet, with its field mapping applied
    unless `mapped` is false."""
    return source_location(source, repo_path, mapped=mapped).sql
