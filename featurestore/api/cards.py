"""Assemble the catalog's composite answers (feature card, object detail, rights check)."""

from __future__ import annotations

from typing import Any

from featurestore.api.catalog_schemas import (
    DenialOut,
    FeatureCard,
    FeatureSummary,
    ObjectDetail,
    Rights,
    RightsCheckOut,
    Semantics,
    TrainingSetOut,
    UsedBy,
)
from featurestore.api.coverage_schemas import FeatureCoverage, OfflineFreshness, OnlineFreshnessOut
from featurestore.catalog.entries import FeatureEntry, ObjectKind, TrainingSetEntry
from featurestore.catalog.lineage import Lineage
from featurestore.catalog.service import CatalogService
from featurestore.errors import FeatureStoreError, ObjectNotFoundError
from featurestore.policy import EffectiveRights


def used_by(lineage: Lineage) -> UsedBy:
    """Downstream services, training sets and models of a lineage neighbourhood."""

    def names(kind: ObjectKind) -> list[str]:
        return sorted(node.name for node in lineage.nodes if node.kind is kind)

    return UsedBy(
        feature_services=names(ObjectKind.feature_service),
        training_sets=names(ObjectKind.training_set),
        models=names(ObjectKind.model),
    )


def feature_card(service: CatalogService, view_name: str, name: str, measures: bool) -> FeatureCard:
    """The feature card; with `measures`, offline coverage and online freshness too."""
    feature = service.feature(view_name, name)
    view = service.view(view_name)
    coverage = offline = online = None
    errors: list[str] = []
    if measures and view.kind != "on_demand":
        try:
            stats, _ = service.view_coverage(view.name)
            coverage = FeatureCoverage.of(next(f for f in stats.features if f.name == name))
            offline = OfflineFreshness.of(stats)
        except FeatureStoreError as exc:
            errors.append(f"coverage: {exc}")
        fresh = service.online_freshness(view.name)
        online = OnlineFreshnessOut.of(fresh)
    semantics = feature.semantics
    return FeatureCard(
        ref=feature.ref,
        view=feature.view,
        name=feature.name,
        dtype=feature.dtype,
        description=feature.description,
        semantics=Semantics(**semantics.model_dump()) if semantics else None,
        tags=dict(feature.tags),
        owner=feature.owner,
        view_description=feature.view_description,
        view_kind=feature.view_kind,
        entities=list(feature.entities),
        join_keys=list(view.join_keys),
        ttl_seconds=view.ttl_seconds,
        online=view.online,
        sources=[s for s in dict.fromkeys((view.stream_source, view.batch_source)) if s],
        rights=Rights.of(feature.rights),
        used_by=used_by(service.used_by(ObjectKind.feature, feature.ref)),
        coverage=coverage,
        offline_freshness=offline,
        online_freshness=online,
        measure_errors=errors,
        provenance=dict(feature.provenance),
        aggregation=feature.aggregation,
    )


def training_set_out(entry: TrainingSetEntry) -> TrainingSetOut:
    return TrainingSetOut(
        name=entry.name,
        feature_service=entry.feature_service,
        features=list(entry.features),
        created_at=entry.created_at,
        purpose=entry.purpose,
        manifest_path=entry.manifest_path,
        rights=Rights.of(entry.rights) if entry.rights else None,
    )


def object_detail(service: CatalogService, kind: ObjectKind, name: str) -> ObjectDetail:
    """Any object by kind and name: metadata, effective rights, properties, features."""
    snap = service.snapshot()
    catalog, consumers = snap.catalog, snap.consumers
    found: dict[str, Any] | None = None
    if kind is ObjectKind.entity and name in catalog.entities:
        entity = catalog.entities[name]
        found = _common(entity, entity.rights, ["join_keys", "value_type"])
        found["refs"] = [f.ref for f in catalog.features.values() if name in f.entities]
    elif kind is ObjectKind.data_source and name in catalog.sources:
        source = catalog.sources[name]
        props = ["source_type", "path", "topic", "batch_source", "timestamp_field"]
        found = _common(source, source.rights, [*props, "created_timestamp_field"])
    elif kind is ObjectKind.feature_view and name in catalog.views:
        view = catalog.views[name]
        props = ["kind", "entities", "join_keys", "ttl_seconds", "online", "batch_source"]
        found = _common(view, view.rights, [*props, "stream_source", "source_views"])
        found["refs"] = [f"{name}:{feature}" for feature in view.features]
    elif kind is ObjectKind.feature_service and name in catalog.services:
        feature_service = catalog.services[name]
        found = _common(feature_service, feature_service.rights, [])
        found["refs"] = feature_service.features
    elif kind is ObjectKind.training_set and name in consumers.training_sets:
        training_set = consumers.training_sets[name]
        props = ["feature_service", "created_at", "purpose", "manifest_path"]
        found = _common(training_set, training_set.rights, props)
        found["description"] = f"Training set built for `{training_set.purpose}`."
        found["refs"] = training_set.features
    elif kind is ObjectKind.model and name in consumers.models:
        model = consumers.models[name]
        props = ["feature_service", "training_set", "purposes", "registered_at", "registered_by"]
        found = _common(model, service.rights(kind, name), props)
        model_service = catalog.services.get(model.feature_service)
        found["refs"] = model_service.features if model_service else ()
        # Terms may have tightened since registration: say which declared purposes now fail.
        found["properties"]["purposes_no_longer_allowed"] = [
            purpose
            for purpose in model.purposes
            if model_service
            and not snap.policy.check(purpose, model_service.features, model_service.name).allowed
        ]
    elif kind is ObjectKind.feature and name in catalog.features:
        feature = catalog.features[name]
        found = _common(feature, feature.rights, ["dtype", "view", "view_kind", "entities"])
        found["refs"] = [name]
    if found is None:
        raise ObjectNotFoundError(kind.label, name, "search the catalog for the right name")
    refs = found.pop("refs", ())
    return ObjectDetail(
        kind=kind.value,
        name=name,
        features=[FeatureSummary.of(catalog.features[r]) for r in refs if r in catalog.features],
        **found,
    )


def _common(entry: Any, rights: EffectiveRights | None, properties: list[str]) -> dict[str, Any]:
    """Description, owner, tags, rights and the named properties of a catalog entry."""
    values = {key: getattr(entry, key) for key in properties}
    found: dict[str, Any] = {
        "description": getattr(entry, "description", ""),
        "owner": getattr(entry, "owner", ""),
        "tags": dict(getattr(entry, "tags", {})),
        "rights": Rights.of(rights) if rights else None,
        "properties": {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()},
        "provenance": dict(getattr(entry, "provenance", {})),
    }
    if hasattr(entry, "version") and not isinstance(entry, FeatureEntry):
        found["version"] = entry.version
    return found


def rights_check(
    service: CatalogService, purpose: str, refs: list[str], feature_service: str | None
) -> RightsCheckOut:
    """The policy's decision on `refs` (or a service's features) for `purpose`."""
    if feature_service is not None:
        snap = service.snapshot()
        svc = snap.catalog.services.get(feature_service)
        if svc is None:
            raise ObjectNotFoundError(
                "feature service", feature_service, "search the catalog for the right name"
            )
        refs = [*refs, *svc.features]
    decision = service.check(purpose, list(dict.fromkeys(refs)), feature_service)
    return RightsCheckOut(
        purpose=purpose,
        allowed=decision.allowed,
        features=list(decision.features),
        denials=[DenialOut.of(d) for d in decision.denials],
        terms={view: Rights.of(rights) for view, rights in decision.terms.items()},
    )
