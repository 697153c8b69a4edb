"""HTTP online serving: `POST /online/features` in Feast's feature-server shape, `GET /metrics`.

The request body is parsed by hand rather than by a FastAPI body parameter: it keeps the
hot path short. Errors answer through `featurestore.api.errors` like every other endpoint.
Limits (`online_max_entity_rows`, `online_max_body_bytes`) and entity value types are checked
before Redis is asked; with `api_tokens` set, a token is needed unless `online_features_open`.
Redis is called from the event loop: its loopback answer (~0.1 ms) is quicker than a thread
pool hand-off.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from featurestore.api.auth import Authorizer, bearer_token
from featurestore.api.errors import error_response, error_responses
from featurestore.api.serving_app import Endpoint, ServingApp
from featurestore.errors import LimitExceededError
from featurestore.online.client import OnlineClient, OnlineFeatures, Status
from featurestore.online.connection import SERVING_TIMEOUT, connect
from featurestore.online.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from featurestore.online.metrics import OnlineMetrics
from featurestore.online.plan import check_entity_values
from featurestore.online.serving_log import ServingLog
from featurestore.repo import open_store
from featurestore.settings import Settings

_EPOCH_TEXT = "1970-01-01T00:00:00Z"


class OnlineFeaturesRequest(BaseModel):
    """Feast's `/get-online-features` request: a feature service or feature refs, and entities."""

    model_config = ConfigDict(extra="ignore", strict=True)

    entities: dict[str, list[Any]] = Field(
        min_length=1,
        description='Join key → one value per entity row, e.g. `{"<join key>": ["<value>"]}`.',
    )
    features: list[str] = Field(default=[], description="`view:feature` refs.")
    feature_service: str | None = Field(default=None, description="A feature service name.")
    full_feature_names: bool = Field(default=False, description="Name features `view__feature`.")

    @model_validator(mode="after")
    def _one_selection_and_equal_rows(self) -> OnlineFeaturesRequest:
        if bool(self.features) == bool(self.feature_service):
            raise ValueError(
                "give exactly one of `features` (a non-empty list) or `feature_service`"
            )
        lengths = {len(values) for values in self.entities.values()}
        if len(lengths) > 1:
            raise ValueError("every column of `entities` must have the same number of values")
        if lengths == {0}:
            raise ValueError("`entities` holds no rows; give at least one value per join key")
        return self


def online_routes(
    open_client: Callable[[], OnlineClient],
    metrics: OnlineMetrics,
    serving_log: ServingLog | None = None,
    *,
    limits: OnlineLimits | None = None,
    authorizer: Authorizer | None = None,
) -> tuple[Endpoint, APIRouter]:
    """The serving endpoint, and a router with its OpenAPI description and `GET /metrics`.

    `open_client` is called once, on the first request. With an `authorizer` every request
    needs one of its tokens (any role).
    """
    lazy = _Lazy(open_client)
    limits = limits or OnlineLimits()

    async def online_features(request: Request) -> Response:
        """Feature values with statuses and event times, in Feast's feature-server shape."""
        began = time.perf_counter()
        try:
            if authorizer is not None:
                token = bearer_token(request.headers.get("authorization"))
                authorizer.principal(token, write=False)
            parsed = _parse(await _body(request, limits.max_body_bytes))
            rows = len(next(iter(parsed.entities.values())))
            if rows > limits.max_entity_rows:
                raise LimitExceededError(
                    "entity rows", rows, limits.max_entity_rows, "online_max_entity_rows"
                )
            client = lazy.get()
            selection = parsed.feature_service or parsed.features
            plan = client.plan(selection, full_feature_names=parsed.full_feature_names)
            check_entity_values(plan, parsed.entities)
            result = client.read(plan, parsed.entities)
        except Exception as exc:
            response = error_response(exc)
            metrics.observe_failure(str(response.status_code), time.perf_counter() - began)
            return response
        response = _json(feast_shape(result))
        metrics.observe(plan, result, time.perf_counter() - began)
        if serving_log is not None:
            serving_log.record(result)
        return response

    async def prometheus_metrics() -> Response:
        """Request latency, value statuses per view and serving log counters (Prometheus)."""
        return Response(metrics.exposition(), media_type=METRICS_CONTENT_TYPE)

    router = APIRouter(tags=["online"], on_shutdown=[serving_log.close] if serving_log else [])
    router.add_api_route(
        "/online/features",
        online_features,
        methods=["POST"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": OnlineFeaturesRequest.model_json_schema()}
                },
            }
        },
        responses=error_responses(401, 403, 404, 409, 413, 422, 503),
    )
    router.add_api_route("/metrics", prometheus_metrics, methods=["GET"], response_class=Response)
    return online_features, router


@dataclass(frozen=True)
class OnlineLimits:
    """How large one online request may be."""

    max_entity_rows: int = 1000
    max_body_bytes: int = 1_048_576


def _body_too_large(size: int, limit: int) -> LimitExceededError:
    return LimitExceededError("bytes in its body", size, limit, "online_max_body_bytes")


async def _body(request: Request, limit: int) -> bytes:
    """The request body, refused as soon as it exceeds `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _body_too_large(int(declared), limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _body_too_large(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(body: bytes) -> OnlineFeaturesRequest:
    try:
        return OnlineFeaturesRequest.model_validate_json(body)
    except ValidationError as exc:
        errors = [
            {**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)
        ]
        raise RequestValidationError(errors) from None


def feast_shape(result: OnlineFeatures) -> dict[str, Any]:
    """The answer as `feast serve` gives it: request entity columns first, then features."""
    texts: dict[datetime, str] = {}
    results = []
    for values in result.entities.values():
        results.append(
            {
                "values": values,
                "statuses": [Status.PRESENT] * len(values),
                "event_timestamps": [_EPOCH_TEXT] * len(values),
            }
        )
    for name, values in result.values.items():
        stamps = []
        for stamp in result.event_timestamps[name]:
            if stamp is None:
                stamps.append(_EPOCH_TEXT)
                continue
            text = texts.get(stamp)
            if text is None:
                text = texts[stamp] = _rfc3339(stamp)
            stamps.append(text)
        results.append(
            {"values": values, "statuses": result.statuses[name], "event_timestamps": stamps}
        )
    names = [*result.entities, *result.values]
    return {"metadata": {"feature_names": names}, "results": results}


def _rfc3339(stamp: datetime) -> str:
    """Feast's adaptive precision: no fraction, milliseconds or microseconds, then `Z`."""
    micros = stamp.microsecond
    spec = "seconds" if micros == 0 else "milliseconds" if micros % 1000 == 0 else "microseconds"
    if stamp.tzinfo is None:
        return stamp.isoformat(timespec=spec) + "Z"
    # isoformat is C code (strftime measured 4× slower); cut its "+00:00" for the "Z".
    return stamp.astimezone(UTC).isoformat(timespec=spec)[:-6] + "Z"


def _json(body: dict[str, Any], status: int = 200) -> Response:
    # orjson writes NaN and ±Infinity as null (JSON has neither); Feast writes strings there.
    content = orjson.dumps(body, default=_native, option=orjson.OPT_PASSTHROUGH_DATETIME)
    return Response(content, status_code=status, media_type="application/json")


def _native(value: object) -> object:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime):  # Feast serves UNIX_TIMESTAMP values as epoch seconds
        return int(value.timestamp())
    raise TypeError(f"cannot serve a value of type {type(value).__name__}")


class _Lazy:
    """Builds the online client on first use, so the app starts without a registry."""

    def __init__(self, factory: Callable[[], OnlineClient]) -> None:
        self._factory = factory
        self._client: OnlineClient | None = None
        self._lock = threading.Lock()

    def get(self) -> OnlineClient:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._factory()
        return self._client


def mount_online(app: ServingApp, settings: Settings, redis_url: str) -> None:
    """Add online serving to `app`: the store opens on the first request, not at startup."""
    serving_log = None
    if settings.serving_log_sample_rate > 0:
        serving_log = ServingLog(
            settings.data_dir / "serving_log", sample_rate=settings.serving_log_sample_rate
        )
    app.state.serving_log = serving_log
    metrics = OnlineMetrics(serving_log)

    def open_client() -> OnlineClient:
        # Fail fast when Redis is away (503 in about a second, not after redis-py's default
        # backoff of several seconds); one immediate retry covers a dropped idle connection.
        reader = connect(redis_url, timeout=SERVING_TIMEOUT)
        return OnlineClient(open_store(settings, redis_url), reader, purpose="serving")

    authorizer = Authorizer(settings)
    limits = OnlineLimits(settings.online_max_entity_rows, settings.online_max_body_bytes)
    guard = authorizer if authorizer.configured and not settings.online_features_open else None
    serving, router = online_routes(
        open_client, metrics, serving_log, limits=limits, authorizer=guard
    )
    # FastAPI's middleware layers, route scan and dependency solving cost more than the read
    # itself; the hot path skips them, and the router's copy of it only documents it (OpenAPI).
    app.add_fast_route("POST", "/online/features", serving)
    app.include_router(router)
