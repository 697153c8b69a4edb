"""Every surface answers bad input with the one ErrorBody and the status of the error's kind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from catalog_app import READER, catalog_client
from fastapi.testclient import TestClient

from featurestore.api import create_app
from featurestore.settings import load_settings

pytestmark = pytest.mark.integration

PIT = "/catalog/views/weather_hourly/coverage/point-in-time"
ERROR_BODY_KEYS = {"error", "detail", "loc", "reasons"}


@pytest.fixture(scope="module")
def client(
    flights_data_dir: Path, tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> Iterator[TestClient]:
    with catalog_client(flights_data_dir, tmp_path_factory.mktemp("errors"), redis_url) as client:
        yield client


def test_malformed_json_gets_the_error_body(client: TestClient) -> None:
    headers = {**READER, "Content-Type": "application/json"}

    response = client.post(PIT, content=b'{"entity_rows": [', headers=headers)

    assert response.status_code == 422
    body = response.json()
    assert set(body) <= ERROR_BODY_KEYS
    assert body["error"] == "RequestValidationError"
    assert "not valid JSON" in body["detail"]


@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+14:00"])
def test_a_time_outside_the_utc_years_is_422_not_500(client: TestClient, moment: str) -> None:
    spine = {"entity_rows": [{"origin": "JFK", "event_timestamp": moment}]}

    response = client.post(PIT, json=spine, headers=READER)

    assert response.status_code == 422
    assert response.json()["loc"] == ["body", "entity_rows", 0, "event_timestamp"]
    assert (
        f"`{moment}` is not an ISO 8601 time between years 1 and 9999 UTC"
        in (response.json()["detail"])
    )


def test_a_spine_that_cannot_be_joined_is_422_like_online(client: TestClient) -> None:
    spine = {"entity_rows": [{"origin": 7, "event_timestamp": "2013-06-01T12:00:00Z"}]}

    response = client.post(PIT, json=spine, headers=READER)

    assert response.status_code == 422
    assert response.json()["error"] == "RetrievalError"


def test_a_rights_check_without_features_is_422(client: TestClient) -> None:
    response = client.post("/catalog/rights/check", json={"purpose": "training"}, headers=READER)

    assert response.status_code == 422
    assert response.json()["loc"] == ["body"]
    assert "name the features to check" in response.json()["detail"]


@pytest.mark.parametrize("suffix", ["", "/svg", "/openlineage"])
def test_lineage_of_an_unknown_feature_is_404(client: TestClient, suffix: str) -> None:
    response = client.get(f"/catalog/lineage/feature/weather_hourly:nope{suffix}", headers=READER)

    assert response.status_code == 404
    assert response.json()["detail"].startswith("feature `weather_hourly:nope` does not exist")


def test_an_unknown_path_is_404_with_the_error_body(client: TestClient) -> None:
    response = client.get("/catalog/nothing-here", headers=READER)

    assert response.status_code == 404
    assert set(response.json()) == {"error", "detail"}


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("entity", "airport"),
        ("data_source", "planes_source"),
        ("feature_view", "weather_hourly"),
        ("feature", "weather_hourly:temp"),
        ("feature_service", "delay_model_v1"),
        ("training_set", "delays_2013"),
    ],
)
def test_every_json_object_has_its_page(client: TestClient, kind: str, name: str) -> None:
    json_answer = client.get(f"/catalog/objects/{kind}/{name}", headers=READER)
    page = client.get(f"/objects/{kind}/{name}", headers=READER)

    assert json_answer.status_code == page.status_code == 200
    assert name.replace(":", "") in page.text.replace(":", "")


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_pages_accept_the_authorization_forms_of_the_api(client: TestClient, scheme: str) -> None:
    headers = {"Authorization": f"{scheme} reader-token"}

    page = client.get("/features", headers=headers)
    api = client.get("/catalog/search", headers=headers)

    assert (page.status_code, api.status_code) == (200, 200)


def test_a_missing_registry_is_409_saying_to_apply(tmp_path: Path, redis_url: str) -> None:
    settings = load_settings(data_dir=tmp_path)
    client = TestClient(create_app(settings, redis_url))

    response = client.get("/catalog/search")
    page = client.get("/features")

    assert (response.status_code, page.status_code) == (409, 409)
    assert response.json() == {
        "error": "RegistryMissingError",
        "detail": f"The Feast registry `{settings.registry_path}` does not exist yet; run "
        "`featurestore apply` first.",
    }
