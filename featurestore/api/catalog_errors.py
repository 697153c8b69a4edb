"""HTTP answers for the catalog's errors: JSON bodies, never tracebacks.

401 no/bad token, 403 role too low or purpose not allowed, 404 unknown object, 409 a stale
`If-Match` version, 422 metadata that fails the schema (in FastAPI's validation shape, `loc`
naming the field).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from featurestore.api.catalog_schemas import DenialOut, ErrorBody
from featurestore.catalog.registered import VersionConflictError
from featurestore.errors import (
    AuthenticationError,
    MetadataError,
    MetadataErrors,
    ObjectNotFoundError,
    PermissionDeniedError,
)
from featurestore.policy import PurposeNotAllowedError

_PART = re.compile(r"\[([^\]]*)\]|([^.\[\]]+)")


class ForbiddenBody(ErrorBody):
    """403: the role is too low, or the purpose is not allowed (then `denials` say why)."""

    denials: list[DenialOut] = Field(default_factory=list, description="Per refused feature.")


class ValidationItem(BaseModel):
    """One invalid field."""

    loc: list[str | int] = Field(description="Where: `body`, then the field path.")
    msg: str = Field(description="What is wrong with it.")
    type: str = Field(description="Error type.")


class ValidationBody(BaseModel):
    """422: the fields that failed validation."""

    detail: list[ValidationItem] = Field(description="One entry per invalid field.")


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the given error statuses."""
    described: dict[int, tuple[type[BaseModel], str]] = {
        400: (ErrorBody, "The request cannot be served as asked (e.g. no Parquet data)."),
        401: (ErrorBody, "No API token, or one that is not configured."),
        403: (ForbiddenBody, "Role too low, or purpose not allowed."),
        404: (ErrorBody, "The named object does not exist."),
        409: (ErrorBody, "`If-Match` names a version that is no longer current."),
        422: (ValidationBody, "A field failed validation; `loc` names it."),
        503: (ErrorBody, "The registry or a service is not available yet."),
    }
    return {
        status: {"model": described[status][0], "description": described[status][1]}
        for status in statuses
    }


def install_error_handlers(app: FastAPI) -> None:
    """Register the catalog's error answers on the app."""

    async def not_found(request: Request, exc: Exception) -> JSONResponse:
        return _body(404, exc)

    async def unauthenticated(request: Request, exc: Exception) -> JSONResponse:
        response = _body(401, exc)
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    async def forbidden(request: Request, exc: Exception) -> JSONResponse:
        denials = exc.denials if isinstance(exc, PurposeNotAllowedError) else ()
        body = ForbiddenBody(
            error=type(exc).__name__,
            detail=str(exc),
            denials=[DenialOut.of(denial) for denial in denials],
        )
        return JSONResponse(status_code=403, content=body.model_dump(mode="json"))

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        errors = exc.errors if isinstance(exc, MetadataErrors) else [exc]
        items = [
            ValidationItem(loc=["body", *field_path(e.field)], msg=str(e), type="metadata")
            for e in errors
            if isinstance(e, MetadataError)
        ]
        return JSONResponse(status_code=422, content=ValidationBody(detail=items).model_dump())

    async def conflict(request: Request, exc: Exception) -> JSONResponse:
        response = _body(409, exc)
        if isinstance(exc, VersionConflictError):
            response.headers["ETag"] = f'"{exc.current}"'
        return response

    app.add_exception_handler(VersionConflictError, conflict)
    app.add_exception_handler(ObjectNotFoundError, not_found)
    app.add_exception_handler(AuthenticationError, unauthenticated)
    app.add_exception_handler(PermissionDeniedError, forbidden)
    app.add_exception_handler(PurposeNotAllowedError, forbidden)
    app.add_exception_handler(MetadataErrors, invalid)
    app.add_exception_handler(MetadataError, invalid)


def field_path(field: str) -> list[str]:
    """`fields[temp].semantics.min` → `["fields", "temp", "semantics", "min"]`."""
    return [bracket or plain for bracket, plain in _PART.findall(field)]


def _body(status: int, exc: Exception) -> JSONResponse:
    body = ErrorBody(error=type(exc).__name__, detail=str(exc))
    return JSONResponse(status_code=status, content=body.model_dump())
