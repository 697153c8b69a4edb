"""Declared and registered catalog metadata, and the rules that merge them.

*Declared* metadata is written in the definitions (`feature_repo/`) and registered with Feast by
`featurestore apply`. *Registered* metadata is written through the catalog API and kept in the
catalog's own store, one value per object and field; it is never written into Feast objects.

Effective metadata:
- owner, description, tags and field description/semantics: a registered value wins;
- rights: the most restrictive of the declared and the registered terms (see `policy`).

Registered values are keyed by field: `owner`, `description`, `tags.<key>`, `rights`,
`fields.<field>.description`, `fields.<field>.semantics`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from featurestore.metadata import (
    RIGHTS_PREFIX,
    CatalogField,
    CatalogObject,
    FieldSemantics,
    RightsTerms,
)

FROM_DEFINITIONS = "from definitions"
WRITABLE_KINDS = ("entity", "data_source", "feature_view", "feature_service")
"""Kinds whose metadata can be registered, as they appear in URLs."""


@dataclass(frozen=True)
class RegisteredValue:
    """One registered value (JSON-like), who registered it and when."""

    value: Any
    actor: str
    at: str

    @property
    def provenance(self) -> str:
        return f"registered by {self.actor} at {self.at}"


@dataclass(frozen=True)
class RegisteredMetadata:
    """The registered layer of one object: its values by field key, and its version."""

    kind: str
    name: str
    version: int = 0
    values: Mapping[str, RegisteredValue] = field(default_factory=dict)

    def rights(self) -> tuple[RightsTerms, RegisteredValue] | None:
        """The registered rights terms, if any, with their record."""
        record = self.values.get("rights")
        if record is None:
            return None
        return RightsTerms.model_validate(record.value), record


RegisteredLayer = Mapping[tuple[str, str], RegisteredMetadata]
"""Registered metadata by (kind, name)."""

EMPTY = RegisteredMetadata("", "")


@dataclass(frozen=True)
class Effective:
    """An object's effective metadata and where each value comes from."""

    obj: CatalogObject
    provenance: Mapping[str, str]
    overridden: tuple[str, ...]
    """Keys whose registered value differs from a declared one."""


def merge(declared: CatalogObject, registered: RegisteredMetadata) -> Effective:
    """The effective metadata of one object (rights tags stay the declared ones).

    Rights are not merged here: they combine with declared terms in `policy`, most
    restrictive first, so a registered term can only narrow what the definitions allow.
    """
    values = registered.values
    provenance: dict[str, str] = {"owner": FROM_DEFINITIONS, "description": FROM_DEFINITIONS}
    overridden: list[str] = []

    def pick(key: str, declared_value: Any) -> Any:
        record = values.get(key)
        if record is None:
            provenance[key] = FROM_DEFINITIONS
            return declared_value
        provenance[key] = record.provenance
        if record.value != declared_value:
            overridden.append(key)
        return record.value

    owner = pick("owner", declared.owner)
    description = pick("description", declared.description)
    tags = dict(declared.tags)
    for key in tags:
        provenance[f"tags.{key}"] = FROM_DEFINITIONS
    for key in values:
        if key.startswith("tags."):
            tag = key.removeprefix("tags.")
            tags[tag] = pick(key, declared.tags.get(tag))
    if "rights" in values:
        provenance["rights"] = values["rights"].provenance
    elif any(key.startswith(RIGHTS_PREFIX) for key in declared.tags):
        provenance["rights"] = FROM_DEFINITIONS
    fields = []
    for declared_field in declared.fields:
        prefix = f"fields.{declared_field.name}."
        field_description = pick(f"{prefix}description", declared_field.description)
        field_tags = dict(declared_field.tags)
        semantics_record = values.get(f"{prefix}semantics")
        if semantics_record is not None:
            semantic = FieldSemantics.model_validate(semantics_record.value).to_tags()
            kept = {k: v for k, v in field_tags.items() if k not in _SEMANTIC_TAGS}
            if {k: v for k, v in field_tags.items() if k in _SEMANTIC_TAGS} != semantic:
                overridden.append(f"{prefix}semantics")
            field_tags = {**kept, **semantic}
            provenance[f"{prefix}semantics"] = semantics_record.provenance
        else:
            provenance[f"{prefix}semantics"] = FROM_DEFINITIONS
        fields.append(replace(declared_field, description=field_description, tags=field_tags))
    obj = replace(declared, owner=owner, description=description, tags=tags, fields=tuple(fields))
    return Effective(obj, provenance, tuple(overridden))


def declared_values(declared: CatalogObject) -> dict[str, Any]:
    """The declared value of every registrable key, in the registered layer's shape."""
    values: dict[str, Any] = {"owner": declared.owner, "description": declared.description}
    for key, value in declared.tags.items():
        if not key.startswith(RIGHTS_PREFIX):
            values[f"tags.{key}"] = value
    rights = {
        k[len(RIGHTS_PREFIX) :]: v for k, v in declared.tags.items() if k.startswith(RIGHTS_PREFIX)
    }
    if rights:
        try:
            values["rights"] = RightsTerms.model_validate(rights).model_dump()
        except ValueError:
            values["rights"] = rights
    for declared_field in declared.fields:
        prefix = f"fields.{declared_field.name}."
        values[f"{prefix}description"] = declared_field.description
        semantic = {k: v for k, v in declared_field.tags.items() if k in _SEMANTIC_TAGS}
        if semantic:
            try:
                values[f"{prefix}semantics"] = FieldSemantics.model_validate(semantic).model_dump()
            except ValueError:
                values[f"{prefix}semantics"] = semantic
    return values


def same_value(key: str, registered: Any, declared: Any) -> bool:
    """Whether a registered value says the same as the declared one (so it can be pruned)."""
    if registered == declared:
        return True
    if key == "rights" and isinstance(registered, Mapping) and isinstance(declared, Mapping):
        try:
            return RightsTerms.model_validate(registered) == RightsTerms.model_validate(declared)
        except ValueError:
            return False
    if key.endswith(".semantics") and isinstance(declared, Mapping):
        try:
            return FieldSemantics.model_validate(registered) == FieldSemantics.model_validate(
                declared
            )
        except ValueError:
            return False
    return False


def field_of(obj: CatalogObject, name: str) -> CatalogField | None:
    """The field called `name` of a declared object, if it has one."""
    return next((f for f in obj.fields if f.name == name), None)


_SEMANTIC_TAGS = ("unit", "min", "max", "allowed", "nullable")
