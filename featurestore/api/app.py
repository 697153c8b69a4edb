"""The FastAPI app: health now; catalog and online serving mount here."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from fastapi.responses import JSONResponse
from google.protobuf.message import DecodeError
from pydantic import BaseModel, Field

from featurestore import __version__
from featurestore.api.catalog import mount_catalog
from featurestore.api.errors import install_error_handlers
from featurestore.api.online import mount_online
from featurestore.api.serving_app import ServingApp
from featurestore.errors import FeatureStoreError
from featurestore.online.connection import SERVING_TIMEOUT, connect
from featurestore.online.errors import redis_errors
from featurestore.settings import Settings


class Health(BaseModel):
    """Whether the API can reach what it serves from."""

    status: Literal["ok", "degraded"] = Field(description="`ok` when every check passed.")
    redis: str = Field(description="`ok`, or why Redis did not answer.")
    registry: str = Field(description="`ok`, or why the Feast registry is not readable.")
    version: str = Field(description="featurestore version.")


def create_app(settings: Settings, redis_url: str) -> ServingApp:
    """The app for one settings object and one Redis."""
    app = ServingApp(
        title="featurestore",
        version=__version__,
        description="Feature catalog and online features.",
    )
    client = connect(redis_url, timeout=SERVING_TIMEOUT)
    install_error_handlers(app)
    registry = _RegistryCheck(settings.registry_path)

    @app.get(
        "/health",
        response_model=Health,
        responses={503: {"model": Health, "description": "A dependency is unreachable."}},
    )
    def health() -> JSONResponse:
        """Check Redis and the registry; 503 when either fails."""
        try:
            with redis_errors("ping"):
                client.ping()
            redis_state = "ok"
        except FeatureStoreError as exc:
            redis_state = f"unreachable: {exc.__cause__ or exc}"
        registry_state = registry.state()
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


class _RegistryCheck:
    """Opens the registry file and says whether it holds definitions (cached per file version)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._seen: tuple[tuple[int, int], str] | None = None

    def state(self) -> str:
        try:
            stat = self._path.stat()
        except FileNotFoundError:
            return f"missing: `{self._path}`; run `featurestore apply`"
        version = (stat.st_mtime_ns, stat.st_size)
        if self._seen is None or self._seen[0] != version:
            self._seen = (version, self._read())
        return self._seen[1]

    def _read(self) -> str:
        from feast.protos.feast.core.Registry_pb2 import Registry

        try:
            proto = Registry.FromString(self._path.read_bytes())
        except (OSError, DecodeError) as exc:
            return (
                f"corrupt: `{self._path}` is not a Feast registry ({exc}); run `featurestore apply`"
            )
        if not (proto.projects or proto.entities or proto.feature_views):
            return f"empty: `{self._path}` registers nothing; run `featurestore apply`"
        return "ok"
