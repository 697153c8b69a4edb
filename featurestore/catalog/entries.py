"""What the catalog knows about each object: plain, immutable records built from the registry."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from featurestore.metadata import FieldSemantics
from featurestore.policy import EffectiveRights

ViewKind = Literal["batch", "stream", "on_demand"]


class ObjectKind(StrEnum):
    """Kinds of catalog objects, as they appear in URLs."""

    entity = "entity"
    data_source = "data_source"
    feature_view = "feature_view"
    feature = "feature"
    feature_service = "feature_service"
    training_set = "training_set"
    model = "model"

    @property
    def label(self) -> str:
        """The kind in words, e.g. `feature view`."""
        return self.value.replace("_", " ")


@dataclass(frozen=True)
class EntityEntry:
    """An entity: the thing features describe, and its join keys."""

    name: str
    description: str
    owner: str
    tags: Mapping[str, str]
    join_keys: tuple[str, ...]
    value_type: str
    rights: EffectiveRights | None = None
    provenance: Mapping[str, str] = field(default_factory=dict)
    version: int = 0


@dataclass(frozen=True)
class SourceEntry:
    """A data source; `path` is the resolved Parquet location of file sources."""

    name: str
    source_type: str
    description: str
    owner: str
    tags: Mapping[str, str]
    rights: EffectiveRights
    timestamp_field: str
    created_timestamp_field: str | None
    path: str | None = None
    topic: str | None = None
    batch_source: str | None = None
    provenance: Mapping[str, str] = field(default_factory=dict)
    version: int = 0


@dataclass(frozen=True)
class ViewEntry:
    """A batch, stream or on-demand feature view and where its values come from."""

    name: str
    kind: ViewKind
    description: str
    owner: str
    tags: Mapping[str, str]
    rights: EffectiveRights
    entities: tuple[str, ...]
    join_keys: tuple[str, ...]
    features: tuple[str, ...]
    ttl_seconds: float | None
    online: bool
    batch_source: str | None = None
    stream_source: str | None = None
    source_views: tuple[str, ...] = ()
    provenance: Mapping[str, str] = field(default_factory=dict)
    version: int = 0


@dataclass(frozen=True)
class FeatureEntry:
    """One feature with the metadata of its view: the unit of discovery."""

    view: str
    name: str
    dtype: str
    description: str
    tags: Mapping[str, str]
    semantics: FieldSemantics | None
    view_kind: ViewKind
    view_description: str
    owner: str
    view_tags: Mapping[str, str]
    entities: tuple[str, ...]
    rights: EffectiveRights
    provenance: Mapping[str, str] = field(default_factory=dict)
    """Of `description` and `semantics`: "from definitions" or "registered by … at …"."""
    aggregation: str | None = None
    """How a stream view computes it, from its declaration (e.g. `mean of amount over 1h`)."""

    @property
    def ref(self) -> str:
        """The `view:feature` reference Feast and the policy use."""
        return f"{self.view}:{self.name}"


@dataclass(frozen=True)
class ServiceEntry:
    """A feature service and the `view:feature` refs it selects."""

    name: str
    description: str
    owner: str
    tags: Mapping[str, str]
    features: tuple[str, ...]
    rights: EffectiveRights
    provenance: Mapping[str, str] = field(default_factory=dict)
    version: int = 0


@dataclass(frozen=True)
class TrainingSetEntry:
    """A training set, as its manifest describes it."""

    name: str
    feature_service: str | None
    features: tuple[str, ...]
    created_at: str
    purpose: str
    manifest_path: str
    rights: EffectiveRights | None = None


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: a consumer of a feature service, optionally trained on a set."""

    name: str
    feature_service: str
    training_set: str | None
    purposes: tuple[str, ...]
    owner: str
    description: str
    registered_at: str
    registered_by: str


@dataclass(frozen=True)
class Catalog:
    """Everything registered in one project, by kind and name."""

    project: str
    entities: Mapping[str, EntityEntry] = field(default_factory=dict)
    sources: Mapping[str, SourceEntry] = field(default_factory=dict)
    views: Mapping[str, ViewEntry] = field(default_factory=dict)
    features: Mapping[str, FeatureEntry] = field(default_factory=dict)
    services: Mapping[str, ServiceEntry] = field(default_factory=dict)


@dataclass(frozen=True)
class Consumers:
    """What uses the registry's features: training sets (manifests) and registered models."""

    training_sets: Mapping[str, TrainingSetEntry] = field(default_factory=dict)
    models: Mapping[str, ModelEntry] = field(default_factory=dict)
