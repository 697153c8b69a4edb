"""The catalog's view of a feature repo: every Feast object with its metadata, by kind."""

from __future__ import annotations

from collections.abc import Iterable

from feast import Entity, FeatureService, FeatureView, OnDemandFeatureView, StreamFeatureView
from feast.data_source import DataSource
from feast.field import Field
from feast.repo_contents import RepoContents

from featurestore.metadata import CatalogField, CatalogObject

DUMMY_ENTITY_NAME = "__dummy"


def catalog_objects(contents: RepoContents) -> list[CatalogObject]:
    """Every object of the repo that the catalog shows, in a stable order."""
    objects: list[CatalogObject] = []
    objects.extend(_entity(entity) for entity in contents.entities)
    objects.extend(_data_source(source) for source in contents.data_sources)
    objects.extend(_feature_view("feature view", view) for view in contents.feature_views)
    objects.extend(
        _feature_view("stream feature view", view) for view in contents.stream_feature_views
    )
    objects.extend(
        _feature_view("on-demand feature view", view, needs_rights=False)
        for view in contents.on_demand_feature_views
    )
    objects.extend(_feature_service(service) for service in contents.feature_services)
    return [obj for obj in objects if obj.name != DUMMY_ENTITY_NAME]


def _entity(entity: Entity) -> CatalogObject:
    return CatalogObject(
        kind="entity",
        name=entity.name,
        owner=entity.owner,
        description=entity.description,
        tags=dict(entity.tags),
        needs_rights=False,
    )


def _data_source(source: DataSource) -> CatalogObject:
    return CatalogObject(
        kind="data source",
        name=source.name,
        owner=source.owner,
        description=source.description,
        tags=dict(source.tags),
    )


def _feature_view(
    kind: str,
    view: FeatureView | StreamFeatureView | OnDemandFeatureView,
    *,
    needs_rights: bool = True,
) -> CatalogObject:
    return CatalogObject(
        kind=kind,
        name=view.name,
        owner=view.owner,
        description=view.description,
        tags=dict(view.tags),
        fields=_fields(view.features),
        needs_rights=needs_rights,
    )


def _feature_service(service: FeatureService) -> CatalogObject:
    # A service's rights are the intersection of its views', so it need not state its own.
    return CatalogObject(
        kind="feature service",
        name=service.name,
        owner=service.owner,
        description=service.description,
        tags=dict(service.tags),
        needs_rights=False,
    )


def _fields(fields: Iterable[Field]) -> tuple[CatalogField, ...]:
    return tuple(
        CatalogField(
            name=field.name,
            dtype=str(field.dtype),
            description=field.description,
            tags=dict(field.tags),
        )
        for field in fields
    )
