"""The catalog's JSON API under `/catalog`: discovery, lineage, coverage, rights, registration."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Body, FastAPI, Header, Query, Response

from featurestore.api.auth import Authorizer, ReaderDep, RegistrarDep, install_authorizer
from featurestore.api.cards import feature_card, object_detail, rights_check, training_set_out
from featurestore.api.catalog_pages import mount_pages, page_link
from featurestore.api.catalog_schemas import (
    FacetValue,
    FeatureCard,
    FeatureSummary,
    LineageResponse,
    ObjectDetail,
    Rights,
    RightsCheckIn,
    RightsCheckOut,
    SearchResponse,
    TrainingSetOut,
)
from featurestore.api.coverage_schemas import (
    Freshness,
    OfflineFreshness,
    OnlineFreshnessOut,
    PointInTimeCoverageOut,
    SpineIn,
    ViewCoverage,
)
from featurestore.api.errors import error_responses
from featurestore.api.quality_schemas import FeatureQualityOut
from featurestore.api.registration_schemas import (
    AuditEntryOut,
    AuditPage,
    MetadataUpdated,
    MetadataUpdateIn,
    ModelIn,
    ModelOut,
    ModelRegistered,
)
from featurestore.catalog.entries import ObjectKind
from featurestore.catalog.lineage import Direction
from featurestore.catalog.lineage_svg import lineage_svg
from featurestore.catalog.openlineage import openlineage_events
from featurestore.catalog.search import SearchFilters
from featurestore.catalog.service import CatalogService
from featurestore.errors import FeatureStoreError
from featurestore.settings import Settings

READ = error_responses(401, 404, 409, 422, 503)
WRITE = error_responses(401, 403, 404, 409, 422, 503)


class WritableKind(StrEnum):
    """Kinds whose metadata can be registered through the API."""

    entity = "entity"
    data_source = "data_source"
    feature_view = "feature_view"
    feature_service = "feature_service"


def catalog_router(service: CatalogService) -> APIRouter:
    """Every JSON endpoint of the catalog."""
    router = APIRouter(prefix="/catalog", tags=["catalog"])

    @router.get("/search", response_model=SearchResponse, responses=READ)
    def search(
        _: ReaderDep,
        q: Annotated[str, Query(max_length=200, description="Free text.")] = "",
        entity: Annotated[str | None, Query(description="Only features of this entity.")] = None,
        owner: Annotated[str | None, Query(description="Only this owner's features.")] = None,
        tag: Annotated[str | None, Query(description="`key` or `key=value`.")] = None,
        purpose: Annotated[str | None, Query(description="Only features allowing it.")] = None,
        pii: Annotated[str | None, Query(description="Only this personal-data class.")] = None,
        kind: Annotated[str | None, Query(description="batch, stream or on_demand.")] = None,
        page: Annotated[int, Query(ge=1, le=10_000, description="Page, from 1.")] = 1,
        page_size: Annotated[int, Query(ge=1, le=100, description="Results per page.")] = 20,
    ) -> SearchResponse:
        """Ranked free-text search over features, with filters, facets and pagination."""
        filters = SearchFilters(entity, owner, tag, purpose, pii, kind)
        result = service.search(q, filters, page, page_size)
        return SearchResponse(
            query=q,
            total=result.total,
            page=result.page,
            page_size=result.page_size,
            results=[FeatureSummary.of(hit.feature, hit.score) for hit in result.hits],
            facets={
                name: [FacetValue(value=v, count=c) for v, c in values]
                for name, values in result.facets.items()
            },
        )

    @router.get("/features/{view}/{feature}", response_model=FeatureCard, responses=READ)
    def card(
        _: ReaderDep,
        view: str,
        feature: str,
        measures: Annotated[bool, Query(description="Include coverage and freshness.")] = True,
    ) -> FeatureCard:
        """The feature card: definition, semantics, owner, rights, lineage use, coverage."""
        return feature_card(service, view, feature, measures)

    @router.get(
        "/features/{view}/{feature}/quality", response_model=FeatureQualityOut, responses=READ
    )
    def quality(_: ReaderDep, view: str, feature: str) -> FeatureQualityOut:
        """Latest validation of the view's source, training-vs-serving skew against the newest
        training set holding the feature, and its drift per day."""
        return FeatureQualityOut.of(service.feature_quality(view, feature))

    @router.get("/objects/{kind}/{name}", response_model=ObjectDetail, responses=READ)
    def detail(_: ReaderDep, kind: ObjectKind, name: str, response: Response) -> ObjectDetail:
        """Any catalog object: metadata with provenance, effective rights, properties and
        features. Writable kinds carry their metadata version as `ETag`."""
        found = object_detail(service, kind, name)
        if found.version is not None:
            response.headers["ETag"] = f'"{found.version}"'
        return found

    @router.patch(
        "/objects/{kind}/{name}",
        response_model=MetadataUpdated,
        responses=WRITE,
    )
    def update_metadata(
        principal: RegistrarDep,
        kind: WritableKind,
        name: str,
        update: Annotated[MetadataUpdateIn, Body()],
        response: Response,
        if_match: Annotated[
            str | None,
            Header(description='The `ETag` last read, e.g. `"3"`; stale → 409.'),
        ] = None,
    ) -> MetadataUpdated:
        """Register owner, description, tags, rights (admin) or field semantics of an object.

        Only the named values change. Registered values live beside the definitions and win
        over them (rights: the most restrictive wins); an explicit null drops one (admin)."""
        if update.rights is not None:
            principal.require("admin", "change rights terms")
        changes = update.to_update()
        if changes.removes():
            principal.require("admin", "drop registered metadata")
        result = service.update_metadata(
            ObjectKind(kind.value),
            name,
            changes,
            principal.actor,
            principal.role,
            if_match=_etag_value(if_match),
        )
        response.headers["ETag"] = f'"{result.metadata.version}"'
        return MetadataUpdated(
            kind=kind.value,
            name=name,
            changed=result.audit is not None,
            version=result.metadata.version,
            audit=AuditEntryOut.of(result.audit) if result.audit else None,
        )

    @router.get("/lineage/{kind}/{name}", response_model=LineageResponse, responses=READ)
    def lineage(
        _: ReaderDep,
        kind: ObjectKind,
        name: str,
        direction: Direction = "both",
        depth: Annotated[int, Query(ge=0, le=10, description="Maximum hops.")] = 3,
    ) -> LineageResponse:
        """Upstream and/or downstream lineage within `depth` hops (a feature is `view:feature`)."""
        return LineageResponse.of(service.lineage(kind, name, direction, depth))

    @router.get(
        "/lineage/{kind}/{name}/svg",
        response_class=Response,
        responses={200: {"content": {"image/svg+xml": {}}, "description": "SVG"}, **READ},
    )
    def lineage_image(
        _: ReaderDep,
        kind: ObjectKind,
        name: str,
        direction: Direction = "both",
        depth: Annotated[int, Query(ge=0, le=10, description="Maximum hops.")] = 3,
    ) -> Response:
        """The same lineage drawn as SVG."""
        svg = lineage_svg(service.lineage(kind, name, direction, depth), page_link)
        return Response(svg, media_type="image/svg+xml")

    @router.get(
        "/lineage/{kind}/{name}/openlineage",
        response_model=list[dict[str, Any]],
        responses=READ,
    )
    def openlineage(
        _: ReaderDep,
        kind: ObjectKind,
        name: str,
        direction: Direction = "both",
        depth: Annotated[int, Query(ge=0, le=10, description="Maximum hops.")] = 3,
    ) -> list[dict[str, Any]]:
        """OpenLineage RunEvents (one per job) for the same neighbourhood."""
        graph = service.lineage(kind, name, direction, depth)
        snap = service.snapshot()
        return openlineage_events(
            graph, snap.graph, snap.catalog, snap.consumers, datetime.now(UTC)
        )

    @router.get(
        "/views/{view}/coverage",
        response_model=ViewCoverage,
        responses=READ,
    )
    def coverage(_: ReaderDep, view: str) -> ViewCoverage:
        """Rows, time range, null rates, entity coverage, histograms (cached by fingerprint)."""
        stats, cached = service.view_coverage(view)
        return ViewCoverage.of(stats, cached)

    @router.post(
        "/views/{view}/coverage/point-in-time",
        response_model=PointInTimeCoverageOut,
        responses=READ,
    )
    def point_in_time(_: ReaderDep, view: str, spine: SpineIn) -> PointInTimeCoverageOut:
        """Share of the given entity rows that get a non-null, in-ttl value at their time."""
        table = spine.to_table()
        result = service.point_in_time_coverage(
            view, spine.features, table, spine.event_timestamp_column
        )
        return PointInTimeCoverageOut.of(result)

    @router.get("/views/{view}/freshness", response_model=Freshness, responses=READ)
    def freshness(_: ReaderDep, view: str) -> Freshness:
        """Offline freshness (latest event and created time) and online (Redis sample)."""
        entry = service.view(view)
        offline, error = None, None
        try:
            stats, _cached = service.view_coverage(view)
            offline = OfflineFreshness.of(stats)
        except FeatureStoreError as exc:
            error = str(exc)
        online = OnlineFreshnessOut.of(service.online_freshness(view))
        return Freshness(
            view=entry.name,
            ttl_seconds=entry.ttl_seconds,
            offline=offline,
            offline_error=error,
            online=online,
        )

    @router.get("/rights/{kind}/{name}", response_model=Rights, responses=READ)
    def rights(_: ReaderDep, kind: ObjectKind, name: str) -> Rights:
        """Effective rights after propagation along lineage, with the chain behind them."""
        return Rights.of(service.rights(kind, name))

    @router.post("/rights/check", response_model=RightsCheckOut, responses=READ)
    def check(_: ReaderDep, request: RightsCheckIn) -> RightsCheckOut:
        """May these features be used for this purpose? The check training and serving enforce."""
        return rights_check(service, request.purpose, request.features, request.feature_service)

    @router.get("/training-sets", response_model=list[TrainingSetOut], responses=READ)
    def training_sets(_: ReaderDep) -> list[TrainingSetOut]:
        """Training sets found from their manifests."""
        return [training_set_out(t) for t in service.snapshot().consumers.training_sets.values()]

    @router.get("/models", response_model=list[ModelOut], responses=READ)
    def models(_: ReaderDep) -> list[ModelOut]:
        """Registered models."""
        return [ModelOut.of(model) for model in service.snapshot().consumers.models.values()]

    @router.post(
        "/models",
        status_code=201,
        response_model=ModelRegistered,
        responses=WRITE,
    )
    def register_model(principal: RegistrarDep, model: ModelIn) -> ModelRegistered:
        """Register (or update) a model as a consumer of a feature service."""
        entry = model.to_entry(principal.actor, datetime.now(UTC))
        registered, audit = service.register_model(entry, principal.role)
        return ModelRegistered(model=ModelOut.of(registered), audit=AuditEntryOut.of(audit))

    @router.get("/audit", response_model=AuditPage, responses=READ)
    def audit(
        _: ReaderDep,
        limit: Annotated[int, Query(ge=1, le=500, description="Page size.")] = 50,
        offset: Annotated[int, Query(ge=0, le=10_000_000, description="Skip.")] = 0,
        object_kind: Annotated[str | None, Query(description="Only this kind.")] = None,
        object_name: Annotated[str | None, Query(description="Only this object.")] = None,
    ) -> AuditPage:
        """Who changed what and when, newest first."""
        total, entries = service.audit(limit, offset, object_kind, object_name)
        return AuditPage(
            total=total,
            limit=limit,
            offset=offset,
            entries=[AuditEntryOut.of(e) for e in entries],
        )

    return router


def _etag_value(header: str | None) -> str | None:
    """`"3"`, `W/"3"` or `3` → `3`; `*` (any version) → None."""
    if header is None or header.strip() == "*":
        return None
    return header.strip().removeprefix("W/").strip('"')


def mount_catalog(app: FastAPI, settings: Settings, redis_url: str) -> CatalogService:
    """Add the catalog's API, pages and static files to the app."""
    service = CatalogService(settings, redis_url)
    authorizer = Authorizer(settings)
    install_authorizer(app, authorizer)
    app.include_router(catalog_router(service))
    mount_pages(app, service, authorizer)
    return service
