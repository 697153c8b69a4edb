"""Build the catalog's records from what is registered in a Feast store, with the registered
metadata layer merged in (`featurestore.layers`): each record holds effective values, their
provenance and the object's metadata version."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from feast import FeatureStore, FeatureView, Field, OnDemandFeatureView, StreamFeatureView
from feast.data_source import DataSource, KafkaSource
from feast.infra.offline_stores.file_source import FileSource
from pydantic import ValidationError

from featurestore.aggregations import window_spec
from featurestore.catalog.entries import (
    Catalog,
    EntityEntry,
    FeatureEntry,
    ServiceEntry,
    SourceEntry,
    ViewEntry,
    ViewKind,
)
from featurestore.catalog.registration import declared_object
from featurestore.errors import FeatureStoreError
from featurestore.inventory import DUMMY_ENTITY_NAME
from featurestore.layers import EMPTY, Effective, RegisteredLayer, merge
from featurestore.metadata import FieldSemantics, parse_semantics
from featurestore.policy import Policy, feature_refs_of
from featurestore.registry import Registry, normalised_ttl, view_kind
from featurestore.repo import data_dir_of, policy_for_store

logger = logging.getLogger(__name__)

AnyView = FeatureView | StreamFeatureView | OnDemandFeatureView


@dataclass(frozen=True)
class _Layered:
    """Effective metadata of one object, and its version."""

    effective: Effective
    version: int

    @property
    def owner(self) -> str:
        return self.effective.obj.owner

    @property
    def description(self) -> str:
        return self.effective.obj.description

    @property
    def tags(self) -> dict[str, str]:
        return dict(self.effective.obj.tags)

    @property
    def provenance(self) -> dict[str, str]:
        return dict(self.effective.provenance)


def _layered(registered: RegisteredLayer, kind: str, obj: Any) -> _Layered:
    record = registered.get((kind, obj.name), EMPTY)
    return _Layered(merge(declared_object(obj), record), record.version)


def build_catalog(store: FeatureStore, registered: RegisteredLayer | None = None) -> Catalog:
    """Every entity, source, view, feature and service of the store's project."""
    if registered is None:
        from featurestore.catalog.registered import read_layer

        registered = read_layer(data_dir_of(store))
    policy = policy_for_store(store, registered)
    repo_path = Path(store.config.repo_path) if store.config.repo_path else None
    entities = {}
    for entity in store.list_entities():
        if entity.name == DUMMY_ENTITY_NAME:
            continue
        layered = _layered(registered, "entity", entity)
        rights = policy.entity_rights(entity.name)
        entities[entity.name] = EntityEntry(
            name=entity.name,
            description=layered.description,
            owner=layered.owner,
            tags=layered.tags,
            join_keys=(entity.join_key,),
            value_type=entity.value_type.name,
            rights=rights if rights.terms is not None else None,
            provenance=layered.provenance,
            version=layered.version,
        )
    views: list[tuple[ViewKind, AnyView]] = [
        *((view_kind(view), view) for view in Registry(store).feature_views()),
        *(("on_demand", view) for view in store.list_on_demand_feature_views()),
    ]
    raw_sources = {source.name: source for source in store.list_data_sources()}
    layered_views = {view.name: _layered(registered, "feature_view", view) for _, view in views}
    view_entries = {
        view.name: _view_entry(kind, view, policy, layered_views[view.name]) for kind, view in views
    }
    features = {
        feature.ref: feature
        for kind, view in views
        for feature in _feature_entries(
            kind, view, view_entries[view.name], layered_views[view.name]
        )
    }
    services = {}
    for service in store.list_feature_services():
        layered = _layered(registered, "feature_service", service)
        services[service.name] = ServiceEntry(
            name=service.name,
            description=layered.description,
            owner=layered.owner,
            tags=layered.tags,
            features=tuple(feature_refs_of(service)),
            rights=policy.service_rights(service.name),
            provenance=layered.provenance,
            version=layered.version,
        )
    sources = {
        name: _source_entry(source, policy, repo_path, _layered(registered, "data_source", source))
        for name, source in raw_sources.items()
    }
    return Catalog(store.project, entities, sources, view_entries, features, services)


def _view_entry(kind: ViewKind, view: AnyView, policy: Policy, layered: _Layered) -> ViewEntry:
    if isinstance(view, OnDemandFeatureView):
        source_views = tuple(p.name for p in view.source_feature_view_projections.values())
        return ViewEntry(
            name=view.name,
            kind=kind,
            description=layered.description,
            owner=layered.owner,
            tags=layered.tags,
            rights=policy.view_rights(view.name),
            entities=(),
            join_keys=(),
            features=tuple(field.name for field in view.features),
            ttl_seconds=None,
            online=True,
            source_views=source_views,
            provenance=layered.provenance,
            version=layered.version,
        )
    ttl = normalised_ttl(view.ttl)
    return ViewEntry(
        name=view.name,
        kind=kind,
        description=layered.description,
        owner=layered.owner,
        tags=layered.tags,
        rights=policy.view_rights(view.name),
        entities=tuple(name for name in view.entities if name != DUMMY_ENTITY_NAME),
        join_keys=tuple(view.join_keys),
        features=tuple(field.name for field in _value_fields(view)),
        ttl_seconds=ttl.total_seconds() if ttl else None,
        online=view.online,
        batch_source=view.batch_source.name if view.batch_source else None,
        stream_source=view.stream_source.name if view.stream_source else None,
        provenance=layered.provenance,
        version=layered.version,
    )


def _feature_entries(
    kind: ViewKind, view: AnyView, entry: ViewEntry, layered: _Layered
) -> list[FeatureEntry]:
    effective = {f.name: f for f in layered.effective.obj.fields}
    provenance = layered.effective.provenance
    computed = aggregation_summaries(view) if isinstance(view, StreamFeatureView) else {}
    return [
        FeatureEntry(
            view=view.name,
            name=field.name,
            dtype=str(field.dtype),
            description=effective[field.name].description,
            tags=dict(effective[field.name].tags),
            semantics=_semantics(view.name, field.name, dict(effective[field.name].tags)),
            view_kind=kind,
            view_description=entry.description,
            owner=entry.owner,
            view_tags=entry.tags,
            entities=entry.entities,
            rights=entry.rights,
            provenance={
                "description": provenance.get(f"fields.{field.name}.description", ""),
                "semantics": provenance.get(f"fields.{field.name}.semantics", ""),
            },
            aggregation=computed.get(field.name),
        )
        for field in _value_fields(view)
    ]


def aggregation_summaries(view: StreamFeatureView) -> dict[str, str]:
    """Per feature of a stream view, how its declared aggregation computes it (none if invalid)."""
    try:
        spec = window_spec(view)
    except FeatureStoreError:
        return {}
    late = f"; events up to {spec.allowed_lateness} late count" if spec.lateness_us else ""
    return {
        a.name: f"{a.function} of `{a.column or 'events'}` per `{spec.key}` over a sliding "
        f"{a.window}{late}"
        for a in spec.aggregations
    }


def _value_fields(view: AnyView) -> list[Field]:
    """The view's feature fields; stream views also list their join keys there, which we drop."""
    keys = set(getattr(view, "join_keys", ()))
    return [field for field in view.features if field.name not in keys]


def _semantics(view: str, feature: str, tags: dict[str, str]) -> FieldSemantics | None:
    try:
        return parse_semantics(tags)
    except ValidationError:
        # `featurestore apply` refuses these; a registry written by plain `feast apply` may not.
        logger.warning("feature `%s:%s` has invalid semantics tags %s", view, feature, tags)
        return None


def _source_entry(
    source: DataSource, policy: Policy, repo_path: Path | None, layered: _Layered
) -> SourceEntry:
    path = None
    if isinstance(source, FileSource):
        path = FileSource.get_uri_for_file_path(repo_path, source.path)
    topic = source.kafka_options.topic if isinstance(source, KafkaSource) else None
    batch = getattr(source, "batch_source", None)
    return SourceEntry(
        name=source.name,
        source_type=type(source).__name__,
        description=layered.description,
        owner=layered.owner,
        tags=layered.tags,
        rights=policy.source_rights(source.name),
        timestamp_field=source.timestamp_field,
        created_timestamp_field=source.created_timestamp_column or None,
        path=path,
        topic=topic,
        batch_source=batch.name if isinstance(batch, DataSource) else None,
        provenance=layered.provenance,
        version=layered.version,
    )
