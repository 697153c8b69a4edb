"""Catalog metadata written on Feast objects, and its typed validation at `featurestore apply`.

Rights terms live in tags under `rights.*`; field semantics live in field tags
(`unit`, `min`, `max`, `allowed`, `nullable`). See README "Catalog metadata".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from featurestore.errors import MetadataError

PiiClass = Literal["none", "pseudonymous", "personal", "sensitive"]
PII_ORDER: tuple[PiiClass, ...] = ("none", "pseudonymous", "personal", "sensitive")
RIGHTS_PREFIX = "rights."
REQUIRED_RIGHTS = ("license", "pii", "purposes")
SEMANTIC_KEYS = ("unit", "min", "max", "allowed", "nullable")
_SPDX_ID = r"(LicenseRef-[A-Za-z0-9.\-]+|[A-Za-z0-9][A-Za-z0-9.\-+]*)"
# One SPDX id, or an expression of ids joined by AND / OR / WITH (what combining terms yields).
_SPDX_LIKE = re.compile(rf"^\(?{_SPDX_ID}( (AND|OR|WITH) \(?{_SPDX_ID}\)?)*\)?$")
_PURPOSE = re.compile(r"^[a-z][a-z0-9_\-]*$")
_NUMERIC_TYPES = {"Int32", "Int64", "Float32", "Float64"}


class RightsTerms(BaseModel):
    """Who may use data for what: license, personal-data class, allowed purposes, retention."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    license: str = Field(description="SPDX license id, or `LicenseRef-…` for a private one.")
    pii: PiiClass = Field(description="Most sensitive class of personal data it holds.")
    purposes: tuple[str, ...] = Field(description="Purposes it may be used for, e.g. `training`.")
    retention_days: int | None = Field(
        default=None, gt=0, description="Days the data may be kept; unset = no limit."
    )
    attribution: str | None = Field(default=None, description="Credit line the license asks for.")

    @field_validator("license")
    @classmethod
    def _license_is_spdx_like(cls, value: str) -> str:
        if not _SPDX_LIKE.match(value):
            raise ValueError("must be an SPDX id such as `CC0-1.0` or `LicenseRef-internal`")
        return value

    @field_validator("purposes", mode="before")
    @classmethod
    def _split_purposes(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("purposes")
    @classmethod
    def _purposes_are_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("must list at least one purpose, e.g. `training,serving`")
        for purpose in value:
            if not _PURPOSE.match(purpose):
                raise ValueError(f"`{purpose}` is not a purpose name (lowercase, e.g. `training`)")
        return tuple(sorted(set(value)))

    def to_tags(self) -> dict[str, str]:
        """The tags that carry these terms on a Feast object."""
        tags = {
            f"{RIGHTS_PREFIX}license": self.license,
            f"{RIGHTS_PREFIX}pii": self.pii,
            f"{RIGHTS_PREFIX}purposes": ",".join(self.purposes),
        }
        if self.retention_days is not None:
            tags[f"{RIGHTS_PREFIX}retention_days"] = str(self.retention_days)
        if self.attribution:
            tags[f"{RIGHTS_PREFIX}attribution"] = self.attribution
        return tags


class FieldSemantics(BaseModel):
    """What a field's values mean: unit, valid range, allowed values, whether null is valid."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    unit: str | None = Field(default=None, description="Unit, e.g. `degF`, `min`, `count`, `1`.")
    min: float | None = Field(default=None, description="Smallest valid value.")
    max: float | None = Field(default=None, description="Largest valid value.")
    allowed: tuple[str, ...] | None = Field(default=None, description="The only valid values.")
    nullable: bool = Field(default=True, description="Whether a missing value is valid.")

    @field_validator("allowed", mode="before")
    @classmethod
    def _split_allowed(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _range_is_ordered(self) -> FieldSemantics:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min `{self.min}` is greater than max `{self.max}`")
        return self

    def to_tags(self) -> dict[str, str]:
        """The field tags that carry these semantics."""
        tags: dict[str, str] = {"nullable": "true" if self.nullable else "false"}
        if self.unit is not None:
            tags["unit"] = self.unit
        if self.min is not None:
            tags["min"] = repr(self.min)
        if self.max is not None:
            tags["max"] = repr(self.max)
        if self.allowed is not None:
            tags["allowed"] = ",".join(self.allowed)
        return tags


@dataclass(frozen=True)
class CatalogObject:
    """The metadata-bearing view of one Feast object, independent of its Feast class."""

    kind: str
    name: str
    owner: str
    description: str
    tags: Mapping[str, str]
    fields: tuple[CatalogField, ...] = ()
    needs_rights: bool = True


@dataclass(frozen=True)
class CatalogField:
    """One field of a feature view or source, with its type name and tags."""

    name: str
    dtype: str
    description: str
    tags: Mapping[str, str]


def parse_rights(tags: Mapping[str, str]) -> RightsTerms | None:
    """The rights terms in `tags`, or None when the object states none."""
    raw = {k[len(RIGHTS_PREFIX) :]: v for k, v in tags.items() if k.startswith(RIGHTS_PREFIX)}
    return RightsTerms.model_validate(raw) if raw else None


def parse_semantics(tags: Mapping[str, str]) -> FieldSemantics:
    """The field semantics in a field's tags (other tags are ignored)."""
    return FieldSemantics.model_validate({k: v for k, v in tags.items() if k in SEMANTIC_KEYS})


def validate_objects(objects: Iterable[CatalogObject]) -> list[MetadataError]:
    """Every metadata problem in `objects`, each naming the object and the field."""
    errors: list[MetadataError] = []
    for obj in objects:
        errors.extend(_validate_object(obj))
    return errors


def _validate_object(obj: CatalogObject) -> list[MetadataError]:
    errors: list[MetadataError] = []

    def problem(field: str, why: str) -> None:
        errors.append(MetadataError(obj.kind, obj.name, field, why))

    if not obj.owner.strip():
        problem("owner", "is missing; set `owner=` to the team or person responsible")
    if not obj.description.strip():
        problem("description", "is missing; set `description=` to what it holds and why")
    raw_rights = {k for k in obj.tags if k.startswith(RIGHTS_PREFIX)}
    if obj.needs_rights:
        for term in REQUIRED_RIGHTS:
            if f"{RIGHTS_PREFIX}{term}" not in raw_rights:
                problem(f"tags[{RIGHTS_PREFIX}{term}]", "is missing; declare it with `rights(...)`")
    if raw_rights:
        known = {f"{RIGHTS_PREFIX}{name}" for name in RightsTerms.model_fields}
        for key in sorted(raw_rights - known):
            problem(f"tags[{key}]", f"is not a rights term; use one of {sorted(known)}")
        if not errors:
            errors.extend(_pydantic_problems(obj, "tags[rights.", lambda: parse_rights(obj.tags)))
    for field in obj.fields:
        errors.extend(_validate_field(obj, field))
    return errors


def _validate_field(obj: CatalogObject, field: CatalogField) -> list[MetadataError]:
    where = f"fields[{field.name}]"
    errors: list[MetadataError] = []
    if not field.description.strip():
        errors.append(MetadataError(obj.kind, obj.name, f"{where}.description", "is missing"))
    if field.dtype in _NUMERIC_TYPES and "unit" not in field.tags:
        errors.append(
            MetadataError(
                obj.kind, obj.name, f"{where}.tags[unit]", "is missing; numeric fields need a unit"
            )
        )
    errors.extend(_pydantic_problems(obj, f"{where}.tags[", lambda: parse_semantics(field.tags)))
    return errors


def _pydantic_problems(obj: CatalogObject, prefix: str, parse: Any) -> list[MetadataError]:
    try:
        parse()
    except ValidationError as exc:
        return [
            MetadataError(obj.kind, obj.name, _error_field(prefix, err["loc"]), _error_why(err))
            for err in exc.errors()
        ]
    return []


def _error_field(prefix: str, loc: tuple[int | str, ...]) -> str:
    """`tags[rights.pii]` for a field error; `tags` for an error about the whole model."""
    if not loc:
        return prefix.rsplit("[", 1)[0]
    return f"{prefix}{'.'.join(str(part) for part in loc)}]"


def _error_why(err: Any) -> str:
    if not err["loc"]:
        return f"is invalid: {err['msg'].removeprefix('Value error, ')}"
    return f"= `{err.get('input')}` is invalid: {err['msg'].removeprefix('Value error, ')}"
