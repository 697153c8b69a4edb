"""Server-rendered catalog pages: home, feature list with facets, feature card, object pages,
lineage, rights check, audit log. Plain HTML from Jinja templates; assets served locally."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, unquote, urlencode

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from featurestore.api.auth import TOKEN_COOKIE, Authorizer, Principal, bearer_token
from featurestore.api.cards import feature_card, object_detail, rights_check
from featurestore.api.errors import status_of
from featurestore.catalog.entries import ObjectKind
from featurestore.catalog.lineage import Direction
from featurestore.catalog.lineage_svg import lineage_svg
from featurestore.catalog.quality_svg import quality_figures
from featurestore.catalog.search import FACETS, SearchFilters
from featurestore.catalog.service import CatalogService
from featurestore.errors import FeatureStoreError, ObjectNotFoundError

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
_TITLES = {
    "not_found": "Not found",
    "denied": "Not allowed",
    "conflict": "Not ready",
    "unavailable": "Unavailable",
    "too_large": "Too large",
}


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _number(value: float | int | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, int) or (float(value).is_integer() and abs(value) >= 1000):
        return f"{int(value):,}"
    return f"{value:.5g}"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    for unit, size in (("years", 365 * 86400), ("days", 86400), ("hours", 3600), ("min", 60)):
        if abs(seconds) >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def _when(value: datetime | str | None) -> str:
    if value is None:
        return "–"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def page_link(kind: ObjectKind, name: str) -> str:
    """The HTML page of an object."""
    if kind is ObjectKind.feature:
        view, _, feature = name.partition(":")
        return f"/features/{quote(view)}/{quote(feature)}"
    return f"/objects/{kind.value}/{quote(name, safe=':')}"


templates.env.filters.update(percent=_percent, number=_number, age=_age, when=_when)
templates.env.globals.update(page_link=page_link, ObjectKind=ObjectKind)


def pages_router(service: CatalogService, authorizer: Authorizer) -> APIRouter:
    """Every HTML page of the catalog."""
    router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

    def render(
        request: Request, build: Callable[[Principal], tuple[str, dict[str, Any]]]
    ) -> HTMLResponse:
        try:
            token = bearer_token(request.headers.get("authorization"))
            principal = authorizer.principal(
                token or unquote(request.cookies.get(TOKEN_COOKIE, "")), write=False
            )
            principal.require("reader", "read the catalog")
            name, context = build(principal)
            status = 200
        except FeatureStoreError as exc:
            # The same status as the JSON API gives for the same error.
            status = status_of(exc)
            if exc.error_kind == "unauthenticated":
                name, context = "login.html", {"message": str(exc)}
            else:
                title = _TITLES.get(exc.error_kind, "Cannot show")
                name, context = "error.html", {"title": title, "message": str(exc)}
        return templates.TemplateResponse(request, name, context, status_code=status)

    @router.get("/")
    def home(request: Request) -> HTMLResponse:
        def build(_: Principal) -> tuple[str, dict[str, Any]]:
            snap = service.snapshot()
            facets = service.search("", SearchFilters(), 1, 1).facets
            return "home.html", {"snap": snap, "facets": facets}

        return render(request, build)

    @router.get("/features")
    def features(
        request: Request,
        q: str = "",
        page: Annotated[int, Query(ge=1, le=10_000)] = 1,
        entity: str | None = None,
        owner: str | None = None,
        tag: str | None = None,
        purpose: str | None = None,
        pii: str | None = None,
        kind: str | None = None,
    ) -> HTMLResponse:
        chosen = {
            k: v
            for k, v in dict(
                entity=entity, owner=owner, tag=tag, purpose=purpose, pii=pii, kind=kind
            ).items()
            if v
        }

        def build(_: Principal) -> tuple[str, dict[str, Any]]:
            result = service.search(q, SearchFilters(**chosen), page, 25)

            def link(**change: Any) -> str:
                params = {"q": q, **chosen, **change}
                return "/features?" + urlencode({k: v for k, v in params.items() if v})

            pages = max(1, math.ceil(result.total / result.page_size))
            return "features.html", {
                "q": q,
                "result": result,
                "chosen": chosen,
                "facet_names": FACETS,
                "link": link,
                "pages": pages,
            }

        return render(request, build)

    @router.get("/features/{view}/{feature}")
    def card(request: Request, view: str, feature: str) -> HTMLResponse:
        def build(_: Principal) -> tuple[str, dict[str, Any]]:
            card = feature_card(service, view, feature, measures=True)
            lineage = service.lineage(ObjectKind.feature, card.ref, "both", 3)
            quality = service.feature_quality(card.view, card.name)
            return "feature.html", {
                "card": card,
                "svg": lineage_svg(lineage, page_link),
                "quality": quality,
                **quality_figures(quality),
            }

        return render(request, build)

    @router.get("/objects/{kind}/{name}")
    def detail(request: Request, kind: ObjectKind, name: str) -> HTMLResponse:
        def build(_: Principal) -> tuple[str, dict[str, Any]]:
            obj = object_detail(service, kind, name)
            try:
                svg = lineage_svg(service.lineage(kind, name, "both", 2), page_link)
            except ObjectNotFoundError:  # entities are not on the lineage graph
                svg = None
            return "object.html", {"obj": obj, "svg": svg}

        return render(request, build)

    @router.get("/lineage/{kind}/{name}")
    def lineage(
        request: Request,
        kind: ObjectKind,
        name: str,
        direction: Direction = "both",
        depth: Annotated[int, Query(ge=0, le=10)] = 3,
    ) -> HTMLResponse:
        def build(_: Principal) -> tuple[str, dict[str, Any]]:
            graph = service.lineage(kind, name, direction, depth)
            return "lineage.html", {
                "graph": graph,
                "svg": lineage_svg(graph, page_link),
                "kind": kind,
                "name": name,
                "direction": direction,
                "depth": depth,
            }

        return render(request, build)

    @router.get("/rights")
    def rights(
        request: Request, purpose: str = "", features: str = "", feature_service: str = ""
    ) -> HTMLResponse:
        def build(_: Principal) -> tuple[str, dict[str, Any]]:
            snap = service.snapshot()
            refs = [ref for ref in features.replace(",", " ").split() if ref]
            result = None
            if purpose and (refs or feature_service):
                result = rights_check(service, purpose, refs, feature_service or None)
            return "rights.html", {
                "purpose": purpose,
                "features": features,
                "feature_service": feature_service,
                "services": sorted(snap.catalog.services),
                "result": result,
                "example_refs": " ".join(sorted(snap.catalog.features)[:2]) or "view:feature",
            }

        return render(request, build)

    @router.get("/audit")
    def audit(request: Request, page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> HTMLResponse:
        def build(_: Principal) -> tuple[str, dict[str, Any]]:
            total, entries = service.audit(50, (page - 1) * 50, None, None)
            pages = max(1, math.ceil(total / 50))
            return "audit.html", {"entries": entries, "total": total, "page": page, "pages": pages}

        return render(request, build)

    @router.get("/login")
    def login(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "login.html", {"message": ""})

    return router


def mount_pages(app: FastAPI, service: CatalogService, authorizer: Authorizer) -> None:
    """Add the pages and their static files (`/static`) to the app."""
    app.include_router(pages_router(service, authorizer))
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
