"""Registration through the API: roles, validation, 20 concurrent writers, the audit log."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from catalog_app import ADMIN, READER, REGISTRAR, catalog_client
from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration

MODEL = {
    "name": "delay_model",
    "feature_service": "delay_model_v1",
    "training_set": "delays_2013",
    "owner": "ml@example.org",
    "description": "Predicts an arrival delay over 15 minutes.",
}


@pytest.fixture
def client(flights_data_dir: Path, tmp_path: Path, redis_url: str) -> Iterator[TestClient]:
    with catalog_client(flights_data_dir, tmp_path, redis_url) as client:
        yield client


def test_registrar_updates_metadata_and_the_audit_log_shows_it(client: TestClient) -> None:
    response = client.patch(
        "/catalog/objects/feature_view/weather_hourly",
        json={
            "description": "Hourly METAR weather.",
            "tags": {"tier": "gold"},
            "fields": {"temp": {"semantics": {"unit": "degF", "min": -50, "max": 130}}},
        },
        headers=REGISTRAR,
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["kind"], body["name"], body["changed"]) == ("feature_view", "weather_hourly", True)
    assert body["audit"]["actor"].startswith("registrar:")
    assert body["audit"]["changes"] == {
        "description": {
            "before": "Latest hourly weather at the departure airport, as published (10 minutes "
            "after the hour); older than 2 hours counts as missing.",
            "after": "Hourly METAR weather.",
        },
        "fields.temp.tags.max": {"before": "120.0", "after": "130.0"},
        "fields.temp.tags.min": {"before": "-40.0", "after": "-50.0"},
        "tags.tier": {"before": None, "after": "gold"},
    }
    card = client.get("/catalog/features/weather_hourly/temp?measures=false", headers=READER)
    assert card.json()["semantics"]["min"] == -50.0
    assert card.json()["view_description"] == "Hourly METAR weather."
    audit = client.get("/catalog/audit", headers=READER).json()
    assert audit["total"] == 1
    assert audit["entries"][0]["object_name"] == "weather_hourly"


def test_rights_need_an_admin(client: TestClient) -> None:
    terms = {"license": "CC0-1.0", "pii": "none", "purposes": ["analytics"]}
    url = "/catalog/objects/data_source/planes_source"

    refused = client.patch(url, json={"rights": terms}, headers=REGISTRAR)
    accepted = client.patch(url, json={"rights": terms}, headers=ADMIN)

    assert refused.status_code == 403
    assert refused.json() == {
        "error": "PermissionDeniedError",
        "detail": "Role `registrar` may not change rights terms; it needs role `admin`. "
        "Ask an admin for a token with that role.",
    }
    assert accepted.status_code == 200
    rights = client.get("/catalog/rights/feature_view/plane_attributes", headers=READER).json()
    assert rights["terms"]["purposes"] == ["analytics"]


def test_reader_may_not_write(client: TestClient) -> None:
    response = client.post("/catalog/models", json=MODEL, headers=READER)

    assert response.status_code == 403
    assert response.json()["detail"] == (
        "Role `reader` may not register metadata or models; it needs role `registrar`. "
        "Ask an admin for a token with that role."
    )


def test_writes_without_configured_tokens_are_401(
    flights_data_dir: Path, tmp_path: Path, redis_url: str
) -> None:
    with catalog_client(flights_data_dir, tmp_path, redis_url, tokens={}) as open_client:
        read = open_client.get("/catalog/search")
        write = open_client.post("/catalog/models", json=MODEL)

    assert read.status_code == 200
    assert write.status_code == 401
    assert write.json()["detail"].startswith("Writes need an API token and none is configured")


def test_invalid_metadata_is_422_naming_the_fields(client: TestClient) -> None:
    response = client.patch(
        "/catalog/objects/feature_view/weather_hourly",
        json={
            "owner": "",
            "tags": {"rights.pii": "none"},
            "fields": {"temp": {"description": ""}},
        },
        headers=REGISTRAR,
    )

    assert response.status_code == 422
    assert response.json() == {
        "error": "MetadataErrors",
        "detail": "feature view `weather_hourly`: `tags[rights.pii]` is a rights term; "
        "set it with `rights`",
        "loc": ["body", "tags", "rights.pii"],
    }
    schema_errors = client.patch(
        "/catalog/objects/feature_view/weather_hourly",
        json={"owner": "", "fields": {"temp": {"description": ""}}},
        headers=REGISTRAR,
    ).json()
    assert schema_errors["loc"] == ["body", "owner"]
    assert "`fields[temp].description`" in schema_errors["detail"]
    bad_rights = client.patch(
        "/catalog/objects/data_source/planes_source",
        json={"rights": {"license": "not a license!", "pii": "none", "purposes": ["x"]}},
        headers=ADMIN,
    )
    assert bad_rights.status_code == 422
    assert bad_rights.json()["loc"] == ["body", "rights", "license"]


def test_unknown_object_is_404(client: TestClient) -> None:
    response = client.patch(
        "/catalog/objects/entity/spaceship", json={"owner": "x"}, headers=REGISTRAR
    )

    assert response.status_code == 404
    assert response.json() == {
        "error": "ObjectNotFoundError",
        "detail": "entity `spaceship` does not exist; check the name, or run "
        "`featurestore apply` to register it.",
    }


def test_register_a_model_and_see_it_downstream(client: TestClient) -> None:
    response = client.post("/catalog/models", json=MODEL, headers=REGISTRAR)

    assert response.status_code == 201, response.text
    assert response.json()["model"] | {"registered_at": None, "registered_by": None} == {
        **MODEL,
        "purposes": ["serving", "training"],
        "registered_at": None,
        "registered_by": None,
    }
    assert [m["name"] for m in client.get("/catalog/models", headers=READER).json()] == [
        "delay_model"
    ]
    card = client.get("/catalog/features/weather_hourly/temp?measures=false", headers=READER)
    assert card.json()["used_by"]["models"] == ["delay_model"]
    model = client.get("/catalog/objects/model/delay_model", headers=READER).json()
    assert len(model["features"]) == 15
    assert model["properties"]["purposes_no_longer_allowed"] == []
    tightened = {"rights": {"license": "CC0-1.0", "pii": "none", "purposes": ["serving"]}}
    client.patch("/catalog/objects/data_source/routes_source", json=tightened, headers=ADMIN)
    model = client.get("/catalog/objects/model/delay_model", headers=READER).json()
    assert model["properties"]["purposes_no_longer_allowed"] == ["training"]
    assert model["rights"]["terms"]["purposes"] == ["serving"]


def test_model_registration_refuses_a_purpose_the_rights_forbid(client: TestClient) -> None:
    response = client.post(
        "/catalog/models", json={**MODEL, "purposes": ["marketing"]}, headers=REGISTRAR
    )

    assert response.status_code == 403
    body = response.json()
    assert body["error"] == "PurposeNotAllowedError"
    assert len(body["reasons"]) == 15
    assert "purpose `marketing` is not allowed" in body["reasons"][0]["reason"]


@pytest.mark.parametrize(
    ("change", "status", "needle"),
    [
        ({"feature_service": "nope"}, 404, "feature service `nope` does not exist"),
        ({"training_set": "nope"}, 404, "training set `nope` does not exist"),
        ({"name": "bad name!"}, 422, "name"),
        ({"purposes": []}, 422, "purposes"),
    ],
)
def test_model_registration_errors(
    client: TestClient, change: dict[str, object], status: int, needle: str
) -> None:
    response = client.post("/catalog/models", json={**MODEL, **change}, headers=REGISTRAR)

    assert response.status_code == status
    assert needle in str(response.json())


def test_twenty_concurrent_registrations_are_all_kept(client: TestClient) -> None:
    def register(i: int) -> int:
        body = {**MODEL, "name": f"model_{i}", "training_set": None}
        return client.post("/catalog/models", json=body, headers=REGISTRAR).status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(register, range(20)))

    assert statuses == [201] * 20
    models = client.get("/catalog/models", headers=READER).json()
    assert sorted(m["name"] for m in models) == sorted(f"model_{i}" for i in range(20))
    audit = client.get("/catalog/audit?object_kind=model&limit=100", headers=READER).json()
    assert audit["total"] == 20
    assert {e["action"] for e in audit["entries"]} == {"register_model"}
