"""Metadata writes through the catalog API: validated with `featurestore apply`'s schema and
kept in the registered layer (`registered.py`), never in the Feast registry.

A write names the keys it changes and touches nothing else: not another key of the object,
not another object. Removing a registered value (setting it to null) is an admin's act.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from feast import (
    Entity,
    FeatureService,
    FeatureStore,
    FeatureView,
    OnDemandFeatureView,
    StreamFeatureView,
)
from feast.data_source import DataSource
from feast.errors import FeastObjectNotFoundException
from feast.repo_contents import RepoContents
from pydantic import ValidationError

from featurestore.catalog.entries import ObjectKind
from featurestore.catalog.ledger import AuditEntry
from featurestore.catalog.registered import RegisteredStore
from featurestore.errors import MetadataError, MetadataErrors, ObjectNotFoundError
from featurestore.inventory import catalog_objects
from featurestore.layers import (
    RegisteredMetadata,
    RegisteredValue,
    declared_values,
    field_of,
    merge,
)
from featurestore.metadata import (
    RIGHTS_PREFIX,
    CatalogObject,
    FieldSemantics,
    RightsTerms,
    validate_objects,
)
from featurestore.policy import combine

WRITABLE_KINDS = (
    ObjectKind.entity,
    ObjectKind.data_source,
    ObjectKind.feature_view,
    ObjectKind.feature_service,
)


@dataclass(frozen=True)
class FieldUpdate:
    """New description and/or semantics (unit, min, max, allowed, nullable) of one field."""

    description: str | None = None
    semantics: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class MetadataUpdate:
    """What to register; None leaves a value as it is. A tag set to None is unregistered.

    `remove` names registered values to drop (e.g. `rights`, `owner`, `tags.tier`,
    `fields.temp.semantics`), so the declared value applies again.
    """

    owner: str | None = None
    description: str | None = None
    tags: Mapping[str, str | None] | None = None
    rights: RightsTerms | None = None
    fields: Mapping[str, FieldUpdate] = field(default_factory=dict)
    remove: frozenset[str] = frozenset()

    def removes(self) -> set[str]:
        """Every registered key this update drops."""
        tags = {f"tags.{key}" for key, value in (self.tags or {}).items() if value is None}
        return {*self.remove, *tags}


@dataclass(frozen=True)
class UpdateResult:
    """The object's registered metadata after a write, and the audit entry (None: no change)."""

    metadata: RegisteredMetadata
    audit: AuditEntry | None


class MetadataWriter:
    """Registers metadata of objects defined in the Feast registry."""

    def __init__(self, store: FeatureStore, registered: RegisteredStore) -> None:
        self._store = store
        self._registered = registered

    def declared(self, kind: ObjectKind, name: str) -> CatalogObject:
        """The object's declared metadata, read afresh from the registry."""
        self._store.refresh_registry()  # another process may have applied since we last read
        return declared_object(_get(self._store, kind, name))

    def update(
        self,
        kind: ObjectKind,
        name: str,
        update: MetadataUpdate,
        actor: str,
        role: str,
        if_match: str | None = None,
    ) -> UpdateResult:
        """Validate `update` against the declared object, then register the keys it names."""
        declared = self.declared(kind, name)
        values = _values(declared, kind, update)
        current = self._registered.get(kind.value, name)
        proposed = {**current.values}
        for key, value in values.items():
            if value is None:
                proposed.pop(key, None)
            else:
                proposed[key] = RegisteredValue(value, actor, "")
        effective = merge(declared, replace(current, values=proposed)).obj
        errors = validate_objects([effective])
        if errors:
            raise MetadataErrors(errors)
        declared_now = declared_values(declared)

        def effective_value(key: str, registered: Any) -> Any:
            if registered is None:
                return declared_now.get(key)
            if key == "rights" and declared_now.get("rights") is not None:
                terms = combine(
                    RightsTerms.model_validate(v) for v in (declared_now["rights"], registered)
                )
                return terms.model_dump(mode="json") if terms else None
            return registered

        metadata, entry = self._registered.write(
            kind.value, name, values, actor, role, if_match=if_match, effective=effective_value
        )
        return UpdateResult(metadata, entry)


def _get(store: FeatureStore, kind: ObjectKind, name: str) -> Any:
    try:
        if kind is ObjectKind.entity:
            return store.get_entity(name)
        if kind is ObjectKind.data_source:
            return store.get_data_source(name)
        if kind is ObjectKind.feature_view:
            return store.registry.get_any_feature_view(name, store.project)
        if kind is ObjectKind.feature_service:
            return store.get_feature_service(name)
    except FeastObjectNotFoundException:
        pass
    raise ObjectNotFoundError(kind.label, name)


def _values(declared: CatalogObject, kind: ObjectKind, update: MetadataUpdate) -> dict[str, Any]:
    """The registered keys `update` sets (None: removes), each validated on its own."""
    errors: list[MetadataError] = []
    where = kind.label
    values: dict[str, Any] = {key: None for key in update.removes()}
    if update.owner is not None:
        values["owner"] = update.owner
    if update.description is not None:
        values["description"] = update.description
    for key, value in (update.tags or {}).items():
        if key.startswith(RIGHTS_PREFIX):
            errors.append(
                MetadataError(
                    where, declared.name, f"tags[{key}]", "is a rights term; set it with `rights`"
                )
            )
        elif value is not None:
            values[f"tags.{key}"] = value
    if update.rights is not None:
        values["rights"] = update.rights.model_dump(mode="json")
    if update.fields and kind is not ObjectKind.feature_view:
        errors.append(
            MetadataError(where, declared.name, "fields", "only feature views have fields")
        )
    for field_name, change in update.fields.items():
        if field_of(declared, field_name) is None:
            errors.append(
                MetadataError(
                    where,
                    declared.name,
                    f"fields[{field_name}]",
                    f"is not a field; it has {sorted(f.name for f in declared.fields)}",
                )
            )
            continue
        if change.description is not None:
            values[f"fields.{field_name}.description"] = change.description
        if change.semantics is not None:
            try:
                parsed = FieldSemantics.model_validate(dict(change.semantics))
            except ValidationError as exc:
                for err in exc.errors():
                    part = ".".join(str(p) for p in err["loc"]) or "range"
                    why = err["msg"].removeprefix("Value error, ")
                    errors.append(
                        MetadataError(
                            where, declared.name, f"fields[{field_name}].semantics.{part}", why
                        )
                    )
                continue
            values[f"fields.{field_name}.semantics"] = parsed.model_dump(mode="json")
    if errors:
        raise MetadataErrors(errors)
    return values


def declared_object(obj: Any) -> CatalogObject:
    """The catalog's view of one Feast object's declared metadata."""
    contents = RepoContents(
        projects=[],
        data_sources=[obj] if isinstance(obj, DataSource) else [],
        feature_views=[obj] if _is_batch_view(obj) else [],
        on_demand_feature_views=[obj] if isinstance(obj, OnDemandFeatureView) else [],
        stream_feature_views=[obj] if isinstance(obj, StreamFeatureView) else [],
        label_views=[],
        entities=[obj] if isinstance(obj, Entity) else [],
        feature_services=[obj] if isinstance(obj, FeatureService) else [],
        permissions=[],
    )
    return catalog_objects(contents)[0]


def _is_batch_view(obj: Any) -> bool:
    return isinstance(obj, FeatureView) and not isinstance(obj, StreamFeatureView)
