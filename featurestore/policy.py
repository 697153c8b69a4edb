"""Rights-to-use: effective terms along lineage and the purpose check every retrieval runs.

A feature view is at most as permissive as its sources and the entities it is keyed by, a
feature service or training set is the intersection of its views (and the service's own
terms), and the most restrictive term wins. Each object's terms are both its declared ones
(definitions) and its registered ones (catalog API): a registered term can narrow, never
widen. Training sets, online serving, model registration and the catalog all ask this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from feast import Entity, FeatureService, FeatureView, OnDemandFeatureView
from feast.data_source import DataSource

from featurestore.errors import ErrorKind, ObjectNotFoundError, TerminalError
from featurestore.layers import FROM_DEFINITIONS, RegisteredLayer
from featurestore.metadata import PII_ORDER, RightsTerms, parse_rights
from featurestore.registry import view_of_ref


@dataclass(frozen=True)
class TermSource:
    """One object on a lineage chain that states rights terms."""

    kind: str
    name: str
    terms: RightsTerms
    provenance: str = FROM_DEFINITIONS


@dataclass(frozen=True)
class EffectiveRights:
    """The terms that apply to an object, and the chain of stated terms they come from."""

    kind: str
    name: str
    terms: RightsTerms | None
    chain: tuple[TermSource, ...]


@dataclass(frozen=True)
class Denial:
    """Why one feature may not be used for a purpose: the stated term that forbids it."""

    feature: str
    purpose: str
    source_kind: str
    source_name: str
    allowed_purposes: tuple[str, ...]

    def __str__(self) -> str:
        if not self.source_name:
            return f"feature `{self.feature}` has no rights terms, so no purpose is allowed"
        allowed = ", ".join(self.allowed_purposes) or "none"
        return (
            f"feature `{self.feature}`: purpose `{self.purpose}` is not allowed by "
            f"{self.source_kind} `{self.source_name}` (allows: {allowed})"
        )


class PurposeNotAllowedError(TerminalError):
    """A retrieval asked to use features for a purpose their rights do not allow."""

    error_kind: ErrorKind = "denied"

    def __init__(self, purpose: str, denials: Sequence[Denial]) -> None:
        self.purpose = purpose
        self.denials = tuple(denials)
        features = ", ".join(f"`{d.feature}`" for d in self.denials)
        super().__init__(
            f"Purpose `{purpose}` is not allowed for {features}: {self.denials[0]}. "
            "Drop those features or register terms that allow the purpose."
        )


@dataclass(frozen=True)
class Decision:
    """The answer of a purpose check, with one denial per feature that is not allowed."""

    purpose: str
    features: tuple[str, ...]
    denials: tuple[Denial, ...]
    terms: Mapping[str, EffectiveRights] = field(default_factory=dict)

    @property
    def allowed(self) -> bool:
        return not self.denials

    def raise_if_denied(self) -> None:
        """Raise PurposeNotAllowedError naming every denied feature."""
        if self.denials:
            raise PurposeNotAllowedError(self.purpose, self.denials)


def combine(terms: Iterable[RightsTerms]) -> RightsTerms | None:
    """The most restrictive combination: all licenses, worst PII, common purposes, least days."""
    collected = list(terms)
    if not collected:
        return None
    licenses = sorted({t.license for t in collected})
    retention = [t.retention_days for t in collected if t.retention_days is not None]
    attributions = sorted({t.attribution for t in collected if t.attribution})
    purposes = set(collected[0].purposes).intersection(*(t.purposes for t in collected[1:]))
    return RightsTerms.model_construct(
        license=" AND ".join(licenses),
        pii=max((t.pii for t in collected), key=PII_ORDER.index),
        purposes=tuple(sorted(purposes)),
        retention_days=min(retention) if retention else None,
        attribution="; ".join(attributions) or None,
    )


class Policy:
    """Rights terms of a repo's objects, and the purpose check built on them."""

    def __init__(
        self,
        data_sources: Iterable[DataSource],
        feature_views: Iterable[FeatureView],
        on_demand_feature_views: Iterable[OnDemandFeatureView] = (),
        feature_services: Iterable[FeatureService] = (),
        entities: Iterable[Entity] = (),
        registered: RegisteredLayer | None = None,
    ) -> None:
        self._sources = {source.name: source for source in data_sources}
        self._views: dict[str, FeatureView] = {view.name: view for view in feature_views}
        self._odfvs = {view.name: view for view in on_demand_feature_views}
        self._services = {service.name: service for service in feature_services}
        self._entities = {entity.name: entity for entity in entities}
        self._registered = registered or {}

    def view_rights(self, view_name: str) -> EffectiveRights:
        """Effective terms of a feature view: its own terms combined with its sources'."""
        if view_name in self._odfvs:
            return self._odfv_rights(self._odfvs[view_name])
        view = self._views.get(view_name)
        if view is None:
            known = [*self._views, *self._odfvs]
            raise ObjectNotFoundError("feature view", view_name, known=known)
        chain = [
            *self._source_chain(view),
            *self._entity_chain(view),
            *self._stated("feature_view", view.name, view.tags),
        ]
        return _effective("feature view", view.name, chain)

    def service_rights(self, service_name: str) -> EffectiveRights:
        """Effective terms of a feature service: the intersection of its views' terms."""
        service = self._services.get(service_name)
        if service is None:
            raise ObjectNotFoundError("feature service", service_name, known=self._services)
        chain = [
            link
            for projection in service.feature_view_projections
            for link in self.view_rights(projection.name).chain
        ]
        chain.extend(self._stated("feature_service", service.name, service.tags))
        return _effective("feature service", service.name, chain)

    def check(
        self, purpose: str, feature_refs: Sequence[str], feature_service: str | None = None
    ) -> Decision:
        """Whether every `view:feature` in `feature_refs` may be used for `purpose`; through
        `feature_service`, its own terms apply to each feature too."""
        denials: list[Denial] = []
        terms: dict[str, EffectiveRights] = {}
        service_chain: list[TermSource] = []
        if feature_service is not None:
            service = self._services.get(feature_service)
            if service is None:
                raise ObjectNotFoundError("feature service", feature_service, known=self._services)
            service_chain = self._stated("feature_service", service.name, service.tags)
        for ref in feature_refs:
            view_name = view_of_ref(ref)
            rights = terms.get(view_name)
            if rights is None:
                rights = self.view_rights(view_name)
                if service_chain:
                    rights = _effective(rights.kind, rights.name, [*rights.chain, *service_chain])
            terms[view_name] = rights
            denial = _denial(ref, purpose, rights)
            if denial is not None:
                denials.append(denial)
        return Decision(purpose, tuple(feature_refs), tuple(denials), terms)

    def source_rights(self, source_name: str) -> EffectiveRights:
        """Effective terms of a data source: the terms it states itself."""
        source = self._sources.get(source_name)
        if source is None:
            raise ObjectNotFoundError("data source", source_name, known=self._sources)
        return _effective(
            "data source", source.name, self._stated("data_source", source.name, source.tags)
        )

    def entity_rights(self, entity_name: str) -> EffectiveRights:
        """Effective terms of an entity: the terms it states about its key."""
        entity = self._entities.get(entity_name)
        if entity is None:
            raise ObjectNotFoundError("entity", entity_name, known=self._entities)
        return _effective("entity", entity.name, self._stated("entity", entity.name, entity.tags))

    def features_rights(self, kind: str, name: str, feature_refs: Sequence[str]) -> EffectiveRights:
        """Effective terms of anything built from `feature_refs`, e.g. a training set or model."""
        views = dict.fromkeys(view_of_ref(ref) for ref in feature_refs)
        chain = [link for view in views for link in self.view_rights(view).chain]
        return _effective(kind, name, chain)

    def _source_chain(self, view: FeatureView) -> list[TermSource]:
        chain: list[TermSource] = []
        for source in (view.stream_source, view.batch_source):
            if source is None:
                continue
            registered = self._sources.get(source.name, source)
            chain.extend(self._stated("data_source", registered.name, registered.tags))
        return chain

    def _entity_chain(self, view: FeatureView) -> list[TermSource]:
        chain: list[TermSource] = []
        for name in view.entities:
            entity = self._entities.get(name)
            tags = entity.tags if entity is not None else {}
            chain.extend(self._stated("entity", name, tags))
        return chain

    def _stated(
        self, kind: str, name: str, tags: Mapping[str, str], label: str = ""
    ) -> list[TermSource]:
        """The declared terms in `tags` and the registered terms of the object, if any."""
        label = label or kind.replace("_", " ")
        stated = []
        declared = parse_rights(tags)
        if declared is not None:
            stated.append(TermSource(label, name, declared))
        record = self._registered.get((kind, name))
        registered = record.rights() if record is not None else None
        if registered is not None:
            terms, value = registered
            stated.append(TermSource(label, name, terms, value.provenance))
        return stated

    def _odfv_rights(self, view: OnDemandFeatureView) -> EffectiveRights:
        chain = [
            link
            for projection in view.source_feature_view_projections.values()
            for link in self.view_rights(projection.name).chain
        ]
        chain.extend(self._stated("feature_view", view.name, view.tags, "on-demand feature view"))
        return _effective("on-demand feature view", view.name, chain)


def feature_refs_of(service: FeatureService) -> list[str]:
    """`view:feature` refs of every feature a feature service selects."""
    return [
        f"{projection.name}:{feature.name}"
        for projection in service.feature_view_projections
        for feature in projection.features
    ]


def _effective(kind: str, name: str, chain: list[TermSource]) -> EffectiveRights:
    unique = tuple(dict.fromkeys(chain))
    return EffectiveRights(kind, name, combine(link.terms for link in unique), unique)


def _denial(ref: str, purpose: str, rights: EffectiveRights) -> Denial | None:
    if rights.terms is None:
        return Denial(ref, purpose, "", "", ())
    if purpose in rights.terms.purposes:
        return None
    # Name the first stated term that lacks the purpose: that is the one to change.
    for link in rights.chain:
        if purpose not in link.terms.purposes:
            return Denial(ref, purpose, link.kind, link.name, link.terms.purposes)
    return Denial(ref, purpose, rights.kind, rights.name, rights.terms.purposes)
