"""Every HTTP error answer, from one function: a status from the error's kind, one `ErrorBody`.

JSON endpoints, the online fast route, the pages and FastAPI's own request parsing and
validation all answer through `error_answer`; no surface has a mapping of its own, and no
answer carries a traceback.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from featurestore.errors import ErrorKind, FeatureStoreError, MetadataError, MetadataErrors
from featurestore.policy import PurposeNotAllowedError

logger = logging.getLogger(__name__)

STATUS: dict[ErrorKind, int] = {
    "invalid": 422,
    "not_found": 404,
    "unauthenticated": 401,
    "denied": 403,
    "conflict": 409,
    "too_large": 413,
    "unavailable": 503,
}

_DESCRIPTIONS = {
    401: "No API token, or one that is not configured.",
    403: "The role is too low, or the purpose is not allowed (`reasons` per feature).",
    404: "The named object does not exist.",
    409: "The store is not ready for this, e.g. no registry yet (run `featurestore apply`).",
    413: "The request is larger than a configured limit.",
    422: "The request is malformed or a value is invalid; `loc` names where.",
    503: "Redis or another service did not answer; retry later.",
}

_PART = re.compile(r"\[([^\]]*)\]|([^.\[\]]+)")


class FeatureReason(BaseModel):
    """Why one feature was refused."""

    feature: str = Field(description="The `view:feature` refused.")
    reason: str = Field(description="The refusal in words.")
    source_kind: str | None = Field(default=None, description="Kind of the object refusing.")
    source_name: str | None = Field(default=None, description="Name of that object.")
    allowed_purposes: list[str] | None = Field(default=None, description="What it allows.")


class ErrorBody(BaseModel):
    """Every error answer of every endpoint: what was wrong, where, and what to do next."""

    error: str = Field(description="Error class, e.g. `ObjectNotFoundError`.")
    detail: str = Field(description="What went wrong, naming the value, and what to do next.")
    loc: list[str | int] | None = Field(
        default=None, description="Where in the request: `body`, `path` or `query`, then a path."
    )
    reasons: list[FeatureReason] | None = Field(
        default=None, description="Per refused feature, why (a purpose not allowed)."
    )


def status_of(exc: FeatureStoreError) -> int:
    """The HTTP status of an error's kind."""
    return STATUS.get(exc.error_kind, 422)


def error_answer(exc: BaseException) -> tuple[int, ErrorBody]:
    """The status and body answering any exception (unexpected ones are 500, logged)."""
    if isinstance(exc, FeatureStoreError):
        return status_of(exc), _feature_store_body(exc)
    if isinstance(exc, RequestValidationError):
        return 422, validation_body(exc.errors())
    if isinstance(exc, StarletteHTTPException):
        return _http_answer(exc)
    logger.error("Unexpected error answering a request", exc_info=exc)
    return 500, ErrorBody(
        error="InternalError",
        detail=f"The server failed unexpectedly ({type(exc).__name__}); see its log.",
    )


def error_response(exc: BaseException) -> Response:
    """`error_answer` as a JSON response, with the headers its status needs."""
    status, body = error_answer(exc)
    headers = dict(getattr(exc, "headers", None) or {})  # e.g. `Allow` on a 405
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, headers=headers)


def validation_body(errors: Sequence[Any]) -> ErrorBody:
    """One body for pydantic/FastAPI validation errors: the first named, the rest counted."""
    first: dict[str, Any] = dict(errors[0]) if errors else {"loc": ("body",), "msg": "invalid"}
    loc = [part if isinstance(part, int) else str(part) for part in first.get("loc", ())]
    where = ".".join(str(part) for part in loc) or "body"
    message = str(first.get("msg", "invalid value"))
    if first.get("type") == "json_invalid":
        context = first.get("ctx") or {}
        message = f"the body is not valid JSON ({context.get('error', message)})"
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return ErrorBody(
        error="RequestValidationError",
        detail=f"`{where}`: {message}{more}. Fix the request as the API description shows "
        "(`/openapi.json`).",
        loc=loc or ["body"],
    )


def field_path(field: str) -> list[str]:
    """`fields[temp].semantics.min` → `["fields", "temp", "semantics", "min"]`."""
    return [bracket or plain for bracket, plain in _PART.findall(field)]


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the given error statuses, all with the one `ErrorBody`."""
    return {
        status: {"model": ErrorBody, "description": _DESCRIPTIONS[status]} for status in statuses
    }


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error of `app` with `error_response`, FastAPI's own ones included."""

    async def handle(request: Request, exc: Exception) -> Response:
        response = error_response(exc)
        if response.status_code == 405:  # every method of the path, not the first route's
            response.headers["Allow"] = ", ".join(_methods_of(app, request.url.path))
        return response

    app.add_exception_handler(FeatureStoreError, handle)
    app.add_exception_handler(RequestValidationError, handle)
    app.add_exception_handler(StarletteHTTPException, handle)
    app.add_exception_handler(Exception, handle)


def _feature_store_body(exc: FeatureStoreError) -> ErrorBody:
    body = ErrorBody(error=type(exc).__name__, detail=str(exc))
    if exc.loc is not None:
        body.loc = list(exc.loc)
    if isinstance(exc, PurposeNotAllowedError):
        body.reasons = [
            FeatureReason(
                feature=denial.feature,
                reason=str(denial),
                source_kind=denial.source_kind,
                source_name=denial.source_name,
                allowed_purposes=list(denial.allowed_purposes),
            )
            for denial in exc.denials
        ]
    if isinstance(exc, MetadataErrors | MetadataError):
        errors = exc.errors if isinstance(exc, MetadataErrors) else [exc]
        body.loc = ["body", *field_path(errors[0].field)]
        body.detail = "; ".join(str(error) for error in errors)
    return body


def _http_answer(exc: StarletteHTTPException) -> tuple[int, ErrorBody]:
    if exc.status_code == 400:  # Starlette could not read the body (e.g. broken form or JSON)
        return 422, ErrorBody(
            error="RequestValidationError",
            detail=f"The request body cannot be read: {exc.detail}. Send a JSON body as the "
            "API description shows (`/openapi.json`).",
            loc=["body"],
        )
    names = {404: "NotFound", 405: "MethodNotAllowed"}
    return exc.status_code, ErrorBody(
        error=names.get(exc.status_code, "HTTPError"),
        detail=f"{exc.detail}; see `/docs` for the API's paths and methods.",
    )


def _methods_of(app: FastAPI, path: str) -> list[str]:
    methods: set[str] = set()
    for route in app.router.routes:
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(path):
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)
