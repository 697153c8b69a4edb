"""Response models of the catalog API, and their construction from catalog records."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from featurestore.api.coverage_schemas import FeatureCoverage, OfflineFreshness, OnlineFreshnessOut
from featurestore.catalog.entries import FeatureEntry
from featurestore.catalog.lineage import Lineage
from featurestore.policy import Denial, EffectiveRights

PURPOSE_PATTERN = r"^[a-z][a-z0-9_\-]*$"


class Terms(BaseModel):
    """Rights-to-use terms."""

    license: str = Field(description="SPDX license expression.")
    pii: str = Field(description="Personal-data class: none, pseudonymous, personal, sensitive.")
    purposes: list[str] = Field(description="Purposes the data may be used for.")
    retention_days: int | None = Field(description="Days it may be kept; null = no limit.")
    attribution: str | None = Field(description="Credit line the license asks for.")


class TermLink(BaseModel):
    """One object on the lineage chain that states terms."""

    kind: str = Field(description="Kind of the object stating the terms.")
    name: str = Field(description="Its name.")
    terms: Terms = Field(description="The terms it states.")
    provenance: str = Field(
        default="from definitions",
        description='"from definitions", or "registered by <actor> at <time>".',
    )


class Rights(BaseModel):
    """Effective terms after propagation along lineage, and the chain that explains them."""

    kind: str = Field(description="Kind of the object.")
    name: str = Field(description="Name of the object.")
    terms: Terms | None = Field(description="Effective terms; null when nothing states any.")
    chain: list[TermLink] = Field(description="Stated terms combined, most upstream first.")

    @classmethod
    def of(cls, rights: EffectiveRights) -> Rights:
        return cls(
            kind=rights.kind,
            name=rights.name,
            terms=Terms.model_validate(rights.terms.model_dump()) if rights.terms else None,
            chain=[
                TermLink(
                    kind=link.kind,
                    name=link.name,
                    terms=Terms(**link.terms.model_dump()),
                    provenance=link.provenance,
                )
                for link in rights.chain
            ],
        )


class FeatureSummary(BaseModel):
    """One feature in search results."""

    ref: str = Field(description="`view:feature` reference.")
    view: str = Field(description="Feature view.")
    name: str = Field(description="Feature name.")
    dtype: str = Field(description="Feast type, e.g. `Float64`.")
    description: str = Field(description="What the feature holds.")
    unit: str | None = Field(description="Unit of its values.")
    owner: str = Field(description="Team or person responsible.")
    view_kind: str = Field(description="`batch`, `stream` or `on_demand`.")
    entities: list[str] = Field(description="Entities it describes.")
    pii: str | None = Field(description="Effective personal-data class.")
    purposes: list[str] = Field(description="Purposes it may be used for (effective).")
    score: float = Field(description="Relevance; 0 when no query was given.")

    @classmethod
    def of(cls, feature: FeatureEntry, score: float = 0.0) -> FeatureSummary:
        terms = feature.rights.terms
        return cls(
            ref=feature.ref,
            view=feature.view,
            name=feature.name,
            dtype=feature.dtype,
            description=feature.description,
            unit=feature.semantics.unit if feature.semantics else None,
            owner=feature.owner,
            view_kind=feature.view_kind,
            entities=list(feature.entities),
            pii=terms.pii if terms else None,
            purposes=list(terms.purposes) if terms else [],
            score=score,
        )


class FacetValue(BaseModel):
    """A facet value and how many matching features have it."""

    value: str = Field(description="The value, e.g. `airport` for the entity facet.")
    count: int = Field(description="Matching features with it.")


class SearchResponse(BaseModel):
    """A page of ranked search results with facet counts over all matches."""

    query: str = Field(description="The query as given.")
    total: int = Field(description="Features matching the query and filters.")
    page: int = Field(description="Page number, from 1.")
    page_size: int = Field(description="Results per page.")
    results: list[FeatureSummary] = Field(description="This page, best first.")
    facets: dict[str, list[FacetValue]] = Field(
        description="Per facet (kind, entity, owner, pii, purpose, tag), counts over all matches."
    )


class Semantics(BaseModel):
    """What a field's values mean."""

    unit: str | None = Field(description="Unit.")
    min: float | None = Field(description="Smallest valid value.")
    max: float | None = Field(description="Largest valid value.")
    allowed: list[str] | None = Field(description="The only valid values.")
    nullable: bool = Field(description="Whether a missing value is valid.")


class LineageNode(BaseModel):
    """A node of the lineage graph."""

    id: str = Field(description="`kind:name`.")
    kind: str = Field(description="data_source, feature_view, feature, feature_service, ….")
    name: str = Field(description="Object name (`view:feature` for a feature).")
    detail: str = Field(description="Sub-kind, e.g. `stream` or `FileSource`.")
    distance: int = Field(description="Hops from the root; negative upstream.")


class LineageEdge(BaseModel):
    """`source` feeds `target`."""

    source: str = Field(description="Upstream node id.")
    target: str = Field(description="Downstream node id.")
    features: list[str] | None = Field(description="Features that flow; null = all.")


class LineageResponse(BaseModel):
    """The lineage neighbourhood of one object."""

    root: str = Field(description="Id of the object asked about.")
    direction: str = Field(description="upstream, downstream or both.")
    depth: int = Field(description="Maximum hops from the root.")
    nodes: list[LineageNode] = Field(description="Nodes, upstream first.")
    edges: list[LineageEdge] = Field(description="Edges between them.")

    @classmethod
    def of(cls, lineage: Lineage) -> LineageResponse:
        return cls(
            root=lineage.root.id,
            direction=lineage.direction,
            depth=lineage.depth,
            nodes=[
                LineageNode(
                    id=n.id,
                    kind=n.kind.value,
                    name=n.name,
                    detail=n.detail,
                    distance=lineage.distance[n.id],
                )
                for n in lineage.nodes
            ],
            edges=[
                LineageEdge(
                    source=e.source,
                    target=e.target,
                    features=sorted(e.features) if e.features is not None else None,
                )
                for e in lineage.edges
            ],
        )


class DenialOut(BaseModel):
    """Why one feature may not be used for the purpose."""

    feature: str = Field(description="The `view:feature` refused.")
    purpose: str = Field(description="The purpose asked for.")
    source_kind: str = Field(description="Kind of the object whose terms forbid it.")
    source_name: str = Field(description="Name of that object.")
    allowed_purposes: list[str] = Field(description="What that object allows.")
    reason: str = Field(description="The refusal in words.")

    @classmethod
    def of(cls, denial: Denial) -> DenialOut:
        return cls(
            feature=denial.feature,
            purpose=denial.purpose,
            source_kind=denial.source_kind,
            source_name=denial.source_name,
            allowed_purposes=list(denial.allowed_purposes),
            reason=str(denial),
        )


class RightsCheckIn(BaseModel):
    """A purpose and the features to use for it (refs, or a feature service)."""

    model_config = ConfigDict(extra="forbid")

    purpose: str = Field(pattern=PURPOSE_PATTERN, description="E.g. `training` or `serving`.")
    features: list[str] = Field(default_factory=list, description="`view:feature` refs.")
    feature_service: str | None = Field(default=None, description="Or: a feature service.")

    @model_validator(mode="after")
    def _names_features(self) -> RightsCheckIn:
        if not self.features and not self.feature_service:
            raise ValueError("name the features to check: `features`, `feature_service` or both")
        return self


class RightsCheckOut(BaseModel):
    """The policy's answer: allowed, or denied with one reason per refused feature."""

    purpose: str = Field(description="The purpose checked.")
    allowed: bool = Field(description="True when every feature may be used for it.")
    features: list[str] = Field(description="The features checked.")
    denials: list[DenialOut] = Field(description="One per refused feature.")
    terms: dict[str, Rights] = Field(description="Effective terms per feature view involved.")


class UsedBy(BaseModel):
    """What consumes an object downstream."""

    feature_services: list[str] = Field(description="Feature services selecting it.")
    training_sets: list[str] = Field(description="Training sets built from it.")
    models: list[str] = Field(description="Registered models consuming it.")


class FeatureCard(BaseModel):
    """Everything about one feature: definition, semantics, owner, rights, use, coverage."""

    ref: str = Field(description="`view:feature` reference.")
    view: str = Field(description="Feature view.")
    name: str = Field(description="Feature name.")
    dtype: str = Field(description="Feast type.")
    description: str = Field(description="What the feature holds.")
    semantics: Semantics | None = Field(description="Unit, valid range, allowed values.")
    tags: dict[str, str] = Field(description="The field's tags.")
    owner: str = Field(description="Owner of the view.")
    view_description: str = Field(description="What the view holds.")
    view_kind: str = Field(description="`batch`, `stream` or `on_demand`.")
    entities: list[str] = Field(description="Entities it describes.")
    join_keys: list[str] = Field(description="Join keys of those entities.")
    ttl_seconds: float | None = Field(description="Values older than this count as missing.")
    online: bool = Field(description="Whether the view is served online.")
    sources: list[str] = Field(description="Data sources of the view.")
    rights: Rights = Field(description="Effective rights and the chain behind them.")
    used_by: UsedBy = Field(description="Services, training sets and models using it.")
    coverage: FeatureCoverage | None = Field(description="Offline coverage; null if unknown.")
    offline_freshness: OfflineFreshness | None = Field(description="Latest offline rows.")
    online_freshness: OnlineFreshnessOut | None = Field(description="Sample of Redis values.")
    measure_errors: list[str] = Field(description="Why a measurement is missing.")
    provenance: dict[str, str] = Field(
        default_factory=dict,
        description='Of `description` and `semantics`: "from definitions" or "registered by '
        '<actor> at <time>".',
    )
    aggregation: str | None = Field(
        default=None,
        description="Stream views: how the declared aggregation computes it, window included.",
    )


class TrainingSetOut(BaseModel):
    """A training set, from its manifest."""

    name: str = Field(description="Training set name.")
    feature_service: str | None = Field(description="Feature service it was built from.")
    features: list[str] = Field(description="`view:feature` refs it holds.")
    created_at: str = Field(description="When it was built.")
    purpose: str = Field(description="Purpose it was built for.")
    manifest_path: str = Field(description="Its manifest file.")
    rights: Rights | None = Field(description="Effective rights of its features.")


class ObjectDetail(BaseModel):
    """Any catalog object: common metadata, rights, and kind-specific properties."""

    kind: str = Field(description="entity, data_source, feature_view, feature_service, ….")
    name: str = Field(description="Its name.")
    description: str = Field(description="What it is.")
    owner: str = Field(description="Team or person responsible.")
    tags: dict[str, str] = Field(description="Its tags.")
    rights: Rights | None = Field(description="Effective rights, where they apply.")
    properties: dict[str, Any] = Field(description="Kind-specific: keys, path, ttl, features….")
    features: list[FeatureSummary] = Field(description="Features it holds or selects.")
    provenance: dict[str, str] = Field(
        default_factory=dict,
        description="Per metadata key (`owner`, `tags.tier`, `fields.temp.description`, …): "
        '"from definitions" or "registered by <actor> at <time>".',
    )
    version: int | None = Field(
        default=None, description="Metadata version of writable kinds; the `ETag` to send back."
    )
