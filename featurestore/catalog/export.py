"""`featurestore catalog export`: the registered layer as code, and pruning what code now says.

Export prints, per object with registered values, the keyword arguments to paste into its
definition in `feature_repo/` (owner, description, tags with `rights(...)`, fields with
`semantics(...)`), with the effective values so the pasted code says what the catalog shows.
Prune drops registered values the definitions now say the same as (for rights: registered
terms that narrow nothing), recording each drop in the audit log.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from featurestore.catalog.registered import RegisteredStore
from featurestore.layers import (
    EMPTY,
    RegisteredLayer,
    RegisteredMetadata,
    declared_values,
    merge,
    same_value,
)
from featurestore.metadata import RIGHTS_PREFIX, CatalogObject, FieldSemantics, RightsTerms
from featurestore.policy import combine

PRUNE_ACTOR = "catalog-export-prune"

_KIND = {
    "entity": "entity",
    "data source": "data_source",
    "feature view": "feature_view",
    "stream feature view": "feature_view",
    "on-demand feature view": "feature_view",
    "feature service": "feature_service",
}


@dataclass(frozen=True)
class Pruned:
    """Registered keys dropped from one object because the definitions now say the same."""

    kind: str
    name: str
    keys: tuple[str, ...]


def registered_kind(obj: CatalogObject) -> str:
    """The URL kind (`feature_view`, …) of a declared object."""
    return _KIND[obj.kind]


def select(objects: Iterable[CatalogObject], only: tuple[str, str] | None) -> list[CatalogObject]:
    """The objects named by `--object KIND/NAME` (all when None)."""
    return [obj for obj in objects if only is None or (registered_kind(obj), obj.name) == only]


def export_code(objects: Iterable[CatalogObject], layer: RegisteredLayer) -> str:
    """Python keyword arguments per object with registered values, ready to paste."""
    blocks = []
    for obj in objects:
        record = layer.get((registered_kind(obj), obj.name), EMPTY)
        if record.values:
            blocks.append(_block(obj, record))
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def prune_repo(
    objects: Iterable[CatalogObject], store: RegisteredStore, actor: str = PRUNE_ACTOR
) -> list[Pruned]:
    """Drop registered values the definitions now equal; one audit entry per object."""
    layer = store.layer()
    pruned = []
    for obj in objects:
        kind = registered_kind(obj)
        record = layer.get((kind, obj.name), EMPTY)
        declared = declared_values(obj)
        keys = tuple(
            sorted(
                key
                for key, value in record.values.items()
                if _says_the_same(key, value.value, declared.get(key))
            )
        )
        if keys:
            store.write(kind, obj.name, dict.fromkeys(keys), actor, "admin")
            pruned.append(Pruned(kind, obj.name, keys))
    return pruned


def _says_the_same(key: str, registered: Any, declared: Any) -> bool:
    if key == "rights" and declared is not None:
        # Registered terms that narrow nothing change nothing: the declared ones already hold.
        try:
            declared_terms = RightsTerms.model_validate(declared)
            combined = combine([declared_terms, RightsTerms.model_validate(registered)])
        except ValueError:
            return False
        return combined == declared_terms
    return declared is not None and same_value(key, registered, declared)


def _block(obj: CatalogObject, record: RegisteredMetadata) -> str:
    effective = merge(obj, record).obj
    values = record.values
    lines = [f"# {obj.kind} `{obj.name}`: registered {', '.join(sorted(values))}"]
    if "owner" in values:
        lines.append(f"owner={effective.owner!r},")
    if "description" in values:
        lines.append(f"description={effective.description!r},")
    if "rights" in values or any(key.startswith("tags.") for key in values):
        lines.append(f"tags={_tags_code(effective.tags, _rights(obj, record))},")
    for field in effective.fields:
        prefix = f"fields.{field.name}."
        if f"{prefix}description" in values or f"{prefix}semantics" in values:
            semantic = FieldSemantics.model_validate(
                {k: v for k, v in field.tags.items() if k in FieldSemantics.model_fields}
            )
            lines.append(
                f"# field `{field.name}`: Field(name={field.name!r}, ..., "
                f"description={field.description!r}, tags={_semantics_code(semantic)})"
            )
    return "\n".join(lines)


def _rights(obj: CatalogObject, record: RegisteredMetadata) -> RightsTerms | None:
    raw = {k[len(RIGHTS_PREFIX) :]: v for k, v in obj.tags.items() if k.startswith(RIGHTS_PREFIX)}
    stated = [RightsTerms.model_validate(raw)] if raw else []
    registered = record.rights()
    if registered is not None:
        stated.append(registered[0])
    return combine(stated)


def _tags_code(tags: Mapping[str, str], terms: RightsTerms | None) -> str:
    plain = {k: v for k, v in sorted(tags.items()) if not k.startswith(RIGHTS_PREFIX)}
    parts = [f"{key!r}: {value!r}" for key, value in plain.items()]
    if terms is not None:
        arguments = [
            f"license={terms.license!r}",
            f"pii={terms.pii!r}",
            f"purposes={','.join(terms.purposes)!r}",
        ]
        if terms.retention_days is not None:
            arguments.append(f"retention_days={terms.retention_days}")
        if terms.attribution:
            arguments.append(f"attribution={terms.attribution!r}")
        parts.append(f"**rights({', '.join(arguments)})")
    return "{" + ", ".join(parts) + "}"


def _semantics_code(semantic: FieldSemantics) -> str:
    arguments = []
    for name in ("unit", "min", "max", "allowed"):
        value = getattr(semantic, name)
        if value is not None:
            arguments.append(f"{name}={tuple(value) if name == 'allowed' else value!r}")
    if not semantic.nullable:
        arguments.append("nullable=False")
    return f"semantics({', '.join(arguments)})"
