"""Metadata writes: validate with `featurestore apply`'s schema, persist into the Feast registry
under a lock (threads and processes), and audit who changed what."""

from __future__ import annotations

import contextlib
import fcntl
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
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
from featurestore.catalog.ledger import AuditEntry, Ledger
from featurestore.errors import MetadataError, MetadataErrors, ObjectNotFoundError
from featurestore.inventory import catalog_objects
from featurestore.metadata import (
    RIGHTS_PREFIX,
    SEMANTIC_KEYS,
    FieldSemantics,
    RightsTerms,
    validate_objects,
)

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
    """What to change; None leaves a value as it is. A tag set to None is removed."""

    owner: str | None = None
    description: str | None = None
    tags: Mapping[str, str | None] | None = None
    rights: RightsTerms | None = None
    fields: Mapping[str, FieldUpdate] = field(default_factory=dict)


class MetadataWriter:
    """Applies metadata updates to registered objects, one at a time across threads/processes."""

    def __init__(
        self,
        store: FeatureStore,
        ledger: Ledger,
        lock_path: Path,
        thread_lock: threading.RLock | None = None,
    ) -> None:
        self._store = store
        self._ledger = ledger
        self._lock_path = lock_path
        self._thread_lock = thread_lock or threading.RLock()

    @contextlib.contextmanager
    def locked(self) -> Iterator[FeatureStore]:
        """Exclusive use of the registry: in this process (thread lock) and others (flock)."""
        with self._thread_lock:
            self._lock_path.parent.mkdir(parents=True, exist_ok=True)
            with self._lock_path.open("a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    yield self._store
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)

    def update(
        self, kind: ObjectKind, name: str, update: MetadataUpdate, actor: str, role: str
    ) -> AuditEntry:
        """Validate and persist `update` on one object; the audit entry lists the changes."""
        with self.locked() as store:
            store.refresh_registry()  # another process may have written since we last read
            obj = _get(store, kind, name)
            before = _metadata(obj)
            _apply_update(obj, kind, update)
            _validate(obj)
            after = _metadata(obj)
            changes = _changes(before, after)
            if changes:
                store.apply([obj])
            return self._ledger.record(actor, role, "update_metadata", kind.value, name, changes)


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


def _apply_update(obj: Any, kind: ObjectKind, update: MetadataUpdate) -> None:
    errors: list[MetadataError] = []
    where = f"{kind.label}"
    if update.owner is not None:
        obj.owner = update.owner
    if update.description is not None:
        obj.description = update.description
    tags = dict(obj.tags)
    for key, value in (update.tags or {}).items():
        if key.startswith(RIGHTS_PREFIX):
            errors.append(
                MetadataError(
                    where, obj.name, f"tags[{key}]", "is a rights term; set it with `rights`"
                )
            )
        elif value is None:
            tags.pop(key, None)
        else:
            tags[key] = value
    if update.rights is not None:
        tags = {k: v for k, v in tags.items() if not k.startswith(RIGHTS_PREFIX)}
        tags.update(update.rights.to_tags())
    obj.tags = tags
    if update.fields and kind is not ObjectKind.feature_view:
        errors.append(MetadataError(where, obj.name, "fields", "only feature views have fields"))
    by_name = {f.name: f for f in getattr(obj, "features", [])} if update.fields else {}
    for field_name, change in update.fields.items():
        target = by_name.get(field_name)
        if target is None:
            errors.append(
                MetadataError(
                    where,
                    obj.name,
                    f"fields[{field_name}]",
                    f"is not a field; it has {sorted(by_name)}",
                )
            )
            continue
        if change.description is not None:
            target.description = change.description
        if change.semantics is not None:
            errors.extend(_set_semantics(obj.name, where, target, change.semantics))
    if errors:
        raise MetadataErrors(errors)


def _set_semantics(
    name: str, where: str, target: Any, semantics: Mapping[str, Any]
) -> list[MetadataError]:
    kept = {k: v for k, v in target.tags.items() if k not in SEMANTIC_KEYS}
    try:
        parsed = FieldSemantics.model_validate(dict(semantics))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            part = ".".join(str(p) for p in err["loc"]) or "range"
            why = err["msg"].removeprefix("Value error, ")
            problems.append(
                MetadataError(where, name, f"fields[{target.name}].semantics.{part}", why)
            )
        return problems
    target.tags = {**kept, **parsed.to_tags()}
    return []


def _validate(obj: Any) -> None:
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
    errors = validate_objects(catalog_objects(contents))
    if errors:
        raise MetadataErrors(errors)


def _is_batch_view(obj: Any) -> bool:
    return isinstance(obj, FeatureView) and not isinstance(obj, StreamFeatureView)


def _metadata(obj: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "owner": obj.owner,
        "description": obj.description,
        "tags": dict(sorted(obj.tags.items())),
    }
    for feature in getattr(obj, "features", []) if not isinstance(obj, FeatureService) else []:
        data[f"fields.{feature.name}"] = {
            "description": feature.description,
            "tags": dict(sorted(feature.tags.items())),
        }
    return data


def _changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """Per changed leaf, e.g. `tags.tier` or `fields.temp.description`: before and after."""
    old, new = _flatten(before), _flatten(after)
    return {
        key: {"before": old.get(key), "after": new.get(key)}
        for key in sorted(old.keys() | new.keys())
        if old.get(key) != new.get(key)
    }


def _flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
