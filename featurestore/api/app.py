"""The FastAPI app: health now; catalog and online serving mount here."""

from __future__ import annotations

from typing import Literal

import redis
from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from featurestore import __version__
from featurestore.api.catalog import mount_catalog
from featurestore.api.online import mount_online
from featurestore.api.serving_app import ServingApp
from featurestore.errors import FeatureStoreError, TransientError
from featurestore.settings import Settings


class Health(BaseModel):
    """Whether the API can reach what it serves from."""

    status: Literal["ok", "degraded"] = Field(description="`ok` when every check passed.")
    redis: str = Field(description="`ok`, or why Redis did not answer.")
    registry: str = Field(description="`ok`, or why the Feast registry is not readable.")
    version: str = Field(description="featurestore version.")


class ErrorBody(BaseModel):
    """Every error answer: a message saying what was wrong and what to do."""

    error: str
    detail: str


def create_app(settings: Settings, redis_url: str) -> ServingApp:
    """The app for one settings object and one Redis."""
    app = ServingApp(
        title="featurestore",
        version=__version__,
        description="Feature catalog and online features.",
    )
    client = redis.Redis.from_url(redis_url, socket_timeout=1.0, socket_connect_timeout=1.0)

    @app.exception_handler(FeatureStoreError)
    async def _feature_store_error(request: Request, exc: FeatureStoreError) -> JSONResponse:
        status = 503 if isinstance(exc, TransientError) else 400
        body = ErrorBody(error=type(exc).__name__, detail=str(exc))
        return JSONResponse(status_code=status, content=body.model_dump())

    @app.get(
        "/health",
        response_model=Health,
        responses={503: {"model": Health, "description": "A dependency is unreachable."}},
    )
    def health() -> JSONResponse:
        """Check Redis and the registry; 503 when either fails."""
        try:
            client.ping()
            redis_state = "ok"
        except redis.RedisError as exc:
            redis_state = f"unreachable: {exc}"
        registry_state = (
            "ok"
            if settings.registry_path.is_file()
            else (f"missing: `{settings.registry_path}`; run `featurestore apply`")
        )
        healthy = redis_state == registry_state == "ok"
        body = Health(
            status="ok" if healthy else "degraded",
            redis=redis_state,
            registry=registry_state,
            version=__version__,
        )
        return JSONResponse(status_code=200 if healthy else 503, content=body.model_dump())

    mount_online(app, settings, redis_url)
    mount_catalog(app, settings, redis_url)
    return app
