"""schemathesis against the app's OpenAPI schema: every catalog operation, no 5xx, responses
conform to the documented status codes, content types and bodies."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from catalog_app import ADMIN, catalog_client
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.openapi import from_asgi

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MAX_EXAMPLES = 10
OBJECTS = [
    {"kind": "feature_view", "name": "weather_hourly"},
    {"kind": "feature_view", "name": "origin_departures_60m"},
    {"kind": "feature_service", "name": "delay_model_v1"},
    {"kind": "data_source", "name": "departures_stream"},
    {"kind": "entity", "name": "airport"},
    {"kind": "training_set", "name": "delays_2013"},
    {"kind": "feature", "name": "plane_attributes:engine"},
]
VIEWS = [{"view": name} for name in ("weather_hourly", "plane_attributes", "route_attributes")]
# Known-good path parameters, mixed into the generated ones so that operations are exercised
# on real objects too, not only answered with 404.
KNOWN: dict[str, list[dict[str, str]]] = {
    "/catalog/features/{view}/{feature}": [
        {"view": "weather_hourly", "feature": "temp"},
        {"view": "plane_attributes", "feature": "engine"},
    ],
    "/catalog/objects/{kind}/{name}": OBJECTS,
    "/catalog/lineage/{kind}/{name}": OBJECTS,
    "/catalog/lineage/{kind}/{name}/svg": OBJECTS,
    "/catalog/lineage/{kind}/{name}/openlineage": OBJECTS,
    "/catalog/rights/{kind}/{name}": OBJECTS,
    "/catalog/views/{view}/coverage": VIEWS,
    "/catalog/views/{view}/freshness": VIEWS,
    "/catalog/views/{view}/coverage/point-in-time": VIEWS,
}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def app(
    flights_data_dir: Path, tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> Iterator[FastAPI]:
    data_dir = tmp_path_factory.mktemp("schemathesis")
    with catalog_client(flights_data_dir, data_dir, redis_url) as client:
        yield client.app  # type: ignore[misc]


def conformance_test(operation: Any) -> Callable[[], None]:
    """A hypothesis test calling one operation with generated (and some known-good) input."""
    path = operation.path
    known = st.sampled_from([None, *KNOWN.get(path, [])])

    @given(case=operation.as_strategy(), known=known)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def conforms(case: Case, known: dict[str, str] | None) -> None:
        if known is not None:
            case.path_parameters = {**(case.path_parameters or {}), **known}
        if path == "/catalog/models" and isinstance(case.body, dict):
            case.body = {**case.body, "feature_service": "delay_model_v1"}
        case.call_and_validate(headers=ADMIN, checks=CHECKS)

    return conforms  # type: ignore[no-any-return]


def test_catalog_api_conforms_to_its_schema(app: FastAPI) -> None:
    schema = from_asgi("/openapi.json", app).include(path_regex="^/catalog")
    operations = [result.ok() for result in schema.get_all_operations()]
    failures: dict[str, str] = {}

    for operation in operations:
        try:
            conformance_test(operation)()
        except Exception as exc:  # report every operation that fails, not just the first
            failures[operation.label] = f"{type(exc).__name__}: {exc}"[:2000]

    assert len(operations) == 17
    assert failures == {}
