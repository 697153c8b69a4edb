"""Request and response models of registration (metadata, models) and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from featurestore.catalog.entries import ModelEntry
from featurestore.catalog.ledger import AuditEntry
from featurestore.catalog.registration import FieldUpdate, MetadataUpdate
from featurestore.metadata import FieldSemantics, RightsTerms

NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$"
PURPOSE_PATTERN = r"^[a-z][a-z0-9_\-]*$"


class FieldUpdateIn(BaseModel):
    """New description and/or semantics of one field of a feature view (null: unregister)."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(default=None, description="What the field holds.")
    semantics: FieldSemantics | None = Field(
        default=None, description="Replaces the field's unit, range, allowed values, nullable."
    )


class MetadataUpdateIn(BaseModel):
    """Metadata to register on an object; omitted values stay as they are.

    An explicit null drops the registered value, so the declared one applies again (role
    `admin`)."""

    model_config = ConfigDict(extra="forbid")

    owner: str | None = Field(default=None, description="Team or person responsible.")
    description: str | None = Field(default=None, description="What it holds and why.")
    tags: dict[str, str | None] | None = Field(
        default=None,
        description="Tags to register; a null value drops the registered tag. Rights go in "
        "`rights`.",
    )
    rights: RightsTerms | None = Field(
        default=None,
        description="Registered rights terms (needs role `admin`); they can only narrow the "
        "declared ones. Null drops them.",
    )
    fields: dict[str, FieldUpdateIn] = Field(
        default_factory=dict, description="Per field of a feature view: description, semantics."
    )

    def to_update(self) -> MetadataUpdate:
        remove = {key for key in ("owner", "description", "rights") if _null(self, key)}
        for name, change in self.fields.items():
            remove.update(
                f"fields.{name}.{key}" for key in ("description", "semantics") if _null(change, key)
            )
        return MetadataUpdate(
            owner=self.owner,
            description=self.description,
            tags=self.tags,
            rights=self.rights,
            fields={
                name: FieldUpdate(
                    description=change.description,
                    semantics=change.semantics.model_dump() if change.semantics else None,
                )
                for name, change in self.fields.items()
            },
            remove=frozenset(remove),
        )


def _null(model: BaseModel, key: str) -> bool:
    """Whether the request set `key` to null explicitly (rather than leaving it out)."""
    return key in model.model_fields_set and getattr(model, key) is None


class AuditEntryOut(BaseModel):
    """One change: who, when, what, before and after."""

    id: int = Field(description="Sequence number.")
    at: datetime = Field(description="When (UTC).")
    actor: str = Field(description="The token's configured name, else `role:<keyed hash>`.")
    role: str = Field(description="The caller's role.")
    action: str = Field(description="update_metadata, register_model or update_model.")
    object_kind: str = Field(description="Kind of the object changed.")
    object_name: str = Field(description="Its name.")
    changes: dict[str, Any] = Field(description="Per changed field: before and after.")
    origin: str | None = Field(
        default=None, description="For `apply`: the definition file that declares the object."
    )

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryOut:
        return cls.model_validate(entry.__dict__)


class AuditPage(BaseModel):
    """A page of the audit log, newest first."""

    total: int = Field(description="Entries matching the filters.")
    limit: int = Field(description="Page size.")
    offset: int = Field(description="Entries skipped.")
    entries: list[AuditEntryOut] = Field(description="This page.")


class MetadataUpdated(BaseModel):
    """The result of a metadata write."""

    kind: str = Field(description="Kind of the object.")
    name: str = Field(description="Its name.")
    changed: bool = Field(description="False when the update changed nothing.")
    version: int = Field(description="The object's metadata version now (also the `ETag`).")
    audit: AuditEntryOut | None = Field(
        description="The audit entry recorded; null when nothing changed."
    )


class ModelIn(BaseModel):
    """A model to register as a consumer of a feature service."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="Model name, e.g. `delay_model`.")
    feature_service: str = Field(min_length=1, description="Feature service it consumes.")
    training_set: str | None = Field(default=None, description="Training set it was fit on.")
    purposes: list[Annotated[str, Field(pattern=PURPOSE_PATTERN)]] = Field(
        default_factory=lambda: ["training", "serving"],
        min_length=1,
        description="What it uses the features for; each must be allowed by their rights.",
    )
    owner: str = Field(min_length=1, description="Team or person responsible.")
    description: str = Field(min_length=1, description="What the model predicts.")

    def to_entry(self, actor: str, at: datetime) -> ModelEntry:
        return ModelEntry(
            name=self.name,
            feature_service=self.feature_service,
            training_set=self.training_set,
            purposes=tuple(sorted(set(self.purposes))),
            owner=self.owner,
            description=self.description,
            registered_at=at.isoformat(),
            registered_by=actor,
        )


class ModelOut(BaseModel):
    """A registered model."""

    name: str = Field(description="Model name.")
    feature_service: str = Field(description="Feature service it consumes.")
    training_set: str | None = Field(description="Training set it was fit on.")
    purposes: list[str] = Field(description="What it uses the features for.")
    owner: str = Field(description="Team or person responsible.")
    description: str = Field(description="What the model predicts.")
    registered_at: datetime = Field(description="When it was last registered.")
    registered_by: str = Field(description="`role:token-id` of who registered it.")

    @classmethod
    def of(cls, model: ModelEntry) -> ModelOut:
        return cls.model_validate({**model.__dict__, "purposes": list(model.purposes)})


class ModelRegistered(BaseModel):
    """The model as registered and the audit entry of the registration."""

    model: ModelOut = Field(description="The registered model.")
    audit: AuditEntryOut = Field(description="The audit entry recorded.")
