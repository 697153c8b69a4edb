"""Registration through the API: roles, validation, 20 concurrent writers, the audit log."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

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
    semantics = {"unit": "degF", "min": -50.0, "max": 130.0, "allowed": None, "nullable": True}
    assert body["audit"]["changes"] == {
        "description": {
            "before": "Latest hourly weather at the departure airport, as published (10 minutes "
            "after the hour); older than 2 hours counts as missing.",
            "after": "Hourly METAR weather.",
            "registered": "Hourly METAR weather.",
        },
        "fields.temp.semantics": {
            "before": {**semantics, "min": -40.0, "max": 120.0},
            "after": semantics,
            "registered": semantics,
        },
        "tags.tier": {"before": None, "after": "gold", "registered": "gold"},
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


def test_a_named_token_is_the_actor_and_values_show_their_provenance(
    flights_data_dir: Path, tmp_path: Path, redis_url: str
) -> None:
    tokens: dict[str, Any] = {
        "admin-token": {"role": "admin", "name": "data-governance"},
        "registrar-token": "registrar",
        "reader-token": "reader",
    }
    with catalog_client(flights_data_dir, tmp_path, redis_url, tokens) as client:
        named = client.patch(
            "/catalog/objects/data_source/planes_source",
            json={"owner": "faa-data@example.org"},
            headers=ADMIN,
        )
        unnamed = client.patch(
            "/catalog/objects/data_source/planes_source",
            json={"tags": {"tier": "gold"}},
            headers=REGISTRAR,
        )
        detail = client.get("/catalog/objects/data_source/planes_source", headers=READER)
        page = client.get("/objects/data_source/planes_source", headers=READER)

    assert named.json()["audit"]["actor"] == "data-governance"
    actor = unnamed.json()["audit"]["actor"]
    secret = (tmp_path / "catalog" / "actor.key").read_bytes()
    digest = hmac.new(secret, b"registrar-token", hashlib.sha256).hexdigest()[:16]
    assert actor == f"registrar:{digest}"
    assert hashlib.sha256(b"registrar-token").hexdigest()[:10] not in actor
    provenance = detail.json()["provenance"]
    assert provenance["owner"].startswith("registered by data-governance at ")
    assert provenance["tags.tier"].startswith(f"registered by {actor} at ")
    assert provenance["description"] == "from definitions"
    assert detail.headers["ETag"] == '"2"'
    assert "registered by data-governance at " in page.text


def test_a_stale_if_match_is_409_naming_the_current_version(client: TestClient) -> None:
    path = "/catalog/objects/feature_view/plane_attributes"
    etag = client.get(path, headers=READER).headers["ETag"]
    first = client.patch(
        path, json={"tags": {"tier": "gold"}}, headers={**REGISTRAR, "If-Match": etag}
    )

    stale = client.patch(
        path, json={"description": "Lost?"}, headers={**REGISTRAR, "If-Match": etag}
    )
    without = client.patch(path, json={"owner": "fleet@example.org"}, headers=REGISTRAR)

    assert first.status_code == 200
    assert first.headers["ETag"] == '"1"'
    assert stale.status_code == 409
    assert stale.json() == {
        "error": "VersionConflictError",
        "detail": "feature view `plane_attributes` is at metadata version `1`, not `0`: someone "
        'changed it since you read it. Read it again (`ETag: "1"`) and retry with '
        '`If-Match: "1"`.',
    }
    assert without.status_code == 200
    assert without.headers["ETag"] == '"2"'
    detail = client.get(path, headers=READER).json()
    assert (detail["owner"], detail["tags"]["tier"]) == ("fleet@example.org", "gold")
    assert detail["description"] != "Lost?"


def test_dropping_a_registered_value_needs_an_admin_and_restores_the_declared_one(
    client: TestClient,
) -> None:
    path = "/catalog/objects/feature_view/route_attributes"
    declared = client.get(path, headers=READER).json()["description"]
    client.patch(path, json={"description": "Registered."}, headers=REGISTRAR)

    refused = client.patch(path, json={"description": None}, headers=REGISTRAR)
    dropped = client.patch(path, json={"description": None}, headers=ADMIN)
    again = client.patch(path, json={"description": None}, headers=ADMIN)

    assert refused.status_code == 403
    assert dropped.status_code == 200
    assert dropped.json()["audit"]["changes"] == {
        "description": {"before": "Registered.", "after": declared, "registered": None}
    }
    assert (again.status_code, again.json()["changed"], again.json()["audit"]) == (200, False, None)
    detail = client.get(path, headers=READER).json()
    assert (detail["description"], detail["provenance"]["description"]) == (
        declared,
        "from definitions",
    )
