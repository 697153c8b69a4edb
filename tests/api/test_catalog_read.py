"""The catalog's read endpoints on the applied flights repo, including their error bodies."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from catalog_app import READER, TRAINING_SET, catalog_client
from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration

OPEN_PURPOSES = ["analytics", "research", "serving", "training"]


@pytest.fixture(scope="module")
def client(
    flights_data_dir: Path, tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> Iterator[TestClient]:
    with catalog_client(flights_data_dir, tmp_path_factory.mktemp("read"), redis_url) as client:
        yield client


def get(client: TestClient, url: str, **params: object) -> dict:
    response = client.get(url, params=params, headers=READER)
    assert response.status_code == 200, response.text
    return response.json()


def test_search_ranks_filters_and_counts_facets(client: TestClient) -> None:
    body = get(client, "/catalog/search", q="temperature")

    assert [r["ref"] for r in body["results"]] == ["weather_hourly:temp"]
    assert body["results"][0] | {"score": 0} == {
        "ref": "weather_hourly:temp",
        "view": "weather_hourly",
        "name": "temp",
        "dtype": "Float64",
        "description": "Air temperature.",
        "unit": "degF",
        "owner": "flight-ops-ml@example.org",
        "view_kind": "batch",
        "entities": ["airport"],
        "pii": "none",
        "purposes": OPEN_PURPOSES,
        "score": 0,
    }
    everything = get(client, "/catalog/search")
    assert everything["total"] == 20
    assert everything["facets"]["kind"] == [
        {"value": "batch", "count": 18},
        {"value": "stream", "count": 2},
    ]
    stream = get(client, "/catalog/search", kind="stream", entity="airport")
    assert [r["ref"] for r in stream["results"]] == [
        "origin_departures_60m:departures_60m",
        "origin_departures_60m:mean_dep_delay_60m",
    ]
    page = get(client, "/catalog/search", page=2, page_size=15)
    assert (page["total"], len(page["results"])) == (20, 5)


def test_feature_card_has_definition_rights_use_and_coverage(client: TestClient) -> None:
    card = get(client, "/catalog/features/weather_hourly/temp")

    assert card["semantics"] == {
        "unit": "degF",
        "min": -40.0,
        "max": 120.0,
        "allowed": None,
        "nullable": True,
    }
    assert (card["ttl_seconds"], card["join_keys"], card["sources"]) == (
        7200.0,
        ["origin"],
        ["weather_hourly_source"],
    )
    assert [(link["kind"], link["name"]) for link in card["rights"]["chain"]] == [
        ("data source", "weather_hourly_source"),
        ("feature view", "weather_hourly"),
    ]
    assert card["used_by"] == {
        "feature_services": ["delay_model_v1"],
        "training_sets": ["delays_2013"],
        "models": [],
    }
    coverage = card["coverage"]
    assert (coverage["non_null"], coverage["entity_coverage"], len(coverage["histogram"])) == (
        26114,
        1.0,
        20,
    )
    assert card["offline_freshness"]["last_event"] == "2013-12-30T23:00:00Z"
    assert card["online_freshness"]["error"] is None
    assert card["measure_errors"] == []
    assert card["aggregation"] is None


def test_a_stream_feature_card_says_how_its_declared_aggregation_computes_it(
    client: TestClient,
) -> None:
    card = get(client, "/catalog/features/origin_departures_60m/mean_dep_delay_60m")

    assert card["aggregation"] == (
        "mean of `dep_delay` per `origin` over a sliding 1:00:00; events up to 0:10:00 late count"
    )


def test_objects_of_every_kind(client: TestClient) -> None:
    view = get(client, "/catalog/objects/feature_view/origin_departures_60m")
    source = get(client, "/catalog/objects/data_source/departures_stream")
    entity = get(client, "/catalog/objects/entity/plane")
    service = get(client, "/catalog/objects/feature_service/delay_model_v1")
    training_set = get(client, "/catalog/objects/training_set/delays_2013")
    feature = get(client, "/catalog/objects/feature/route_attributes:distance")

    assert view["properties"]["kind"] == "stream"
    assert sorted(f["name"] for f in view["features"]) == ["departures_60m", "mean_dep_delay_60m"]
    assert (source["properties"]["source_type"], source["properties"]["topic"]) == (
        "KafkaSource",
        "flights.departures",
    )
    assert entity["properties"] == {"join_keys": ["tailnum"], "value_type": "STRING"}
    assert len(entity["features"]) == 5
    assert len(service["features"]) == 15
    assert service["rights"]["terms"]["purposes"] == OPEN_PURPOSES
    assert [f["ref"] for f in training_set["features"]] == TRAINING_SET["features"]
    assert feature["properties"]["dtype"] == "Float64"


def test_lineage_json_svg_and_openlineage(client: TestClient) -> None:
    lineage = get(client, "/catalog/lineage/feature/weather_hourly:temp", depth=2)
    svg = client.get("/catalog/lineage/feature_service/delay_model_v1/svg", headers=READER)
    events = get(
        client, "/catalog/lineage/training_set/delays_2013/openlineage", direction="upstream"
    )

    assert {n["id"]: n["distance"] for n in lineage["nodes"]} == {
        "data_source:weather_hourly_source": -2,
        "feature_view:weather_hourly": -1,
        "feature:weather_hourly:temp": 0,
        "feature_service:delay_model_v1": 1,
        "training_set:delays_2013": 2,
    }
    assert svg.headers["content-type"] == "image/svg+xml"
    assert svg.text.startswith("<svg") and "weather_hourly_source" in svg.text
    jobs = {e["job"]["name"]: e for e in events}
    assert len(jobs) == 7  # 5 views, the service and the training set
    assert [d["name"] for d in jobs["training_set.delays_2013"]["inputs"]] == [
        "feature_service/delay_model_v1"
    ]
    assert jobs["feature_view.weather_hourly"]["inputs"][0]["name"].endswith("weather.parquet")


def test_coverage_is_cached_by_fingerprint(client: TestClient) -> None:
    first = get(client, "/catalog/views/carrier_daily_stats/coverage")
    second = get(client, "/catalog/views/carrier_daily_stats/coverage")

    assert (first["rows"], first["entities"]) == (second["rows"], second["entities"])
    assert first["rows"] > 5000 and first["entities"] == 16
    assert second["cached"] is True
    assert first["fingerprint"] == second["fingerprint"]
    assert [f["name"] for f in first["features"]] == [
        "flights_arrived",
        "on_time_rate",
        "mean_arr_delay",
        "cancelled",
    ]


def test_point_in_time_coverage_over_a_spine(client: TestClient) -> None:
    spine = {
        "entity_rows": [
            {"origin": "JFK", "event_timestamp": "2013-06-15T14:30:00Z"},
            {"origin": "EWR", "event_timestamp": "2013-06-15T14:05:00+00:00"},
            {"origin": "JFK", "event_timestamp": "2012-12-31T00:00:00Z"},
            {"origin": "XXX", "event_timestamp": "2013-06-15T14:30:00Z"},
        ],
        "features": ["temp", "wind_gust"],
    }

    response = client.post(
        "/catalog/views/weather_hourly/coverage/point-in-time", json=spine, headers=READER
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["rows"] == 4
    assert body["features"][0] == {"name": "temp", "covered": 2, "share": 0.5}


def test_freshness_reports_offline_and_online(client: TestClient) -> None:
    body = get(client, "/catalog/views/weather_hourly/freshness")

    assert body["ttl_seconds"] == 7200.0
    assert body["offline"]["last_created"] == "2013-12-30T23:10:00Z"
    assert body["offline_error"] is None
    assert set(body["online"]) >= {"sampled_keys", "with_value", "latest", "error"}


def test_rights_of_an_object_and_the_check(client: TestClient) -> None:
    rights = get(client, "/catalog/rights/feature_service/delay_model_v1")
    allowed = client.post(
        "/catalog/rights/check",
        json={"purpose": "training", "feature_service": "delay_model_v1"},
        headers=READER,
    ).json()
    denied = client.post(
        "/catalog/rights/check",
        json={"purpose": "marketing", "features": ["weather_hourly:temp"]},
        headers=READER,
    ).json()

    assert rights["terms"]["license"] == "CC0-1.0"
    assert {link["name"] for link in rights["chain"]} >= {"weather_hourly_source", "planes_source"}
    assert (allowed["allowed"], len(allowed["features"]), allowed["denials"]) == (True, 15, [])
    assert denied["allowed"] is False
    assert denied["denials"] == [
        {
            "feature": "weather_hourly:temp",
            "purpose": "marketing",
            "source_kind": "data source",
            "source_name": "weather_hourly_source",
            "allowed_purposes": OPEN_PURPOSES,
            "reason": "feature `weather_hourly:temp`: purpose `marketing` is not allowed by "
            "data source `weather_hourly_source` (allows: analytics, research, serving, training)",
        }
    ]


def test_training_sets_and_models_are_listed(client: TestClient) -> None:
    training_sets = get(client, "/catalog/training-sets")

    assert [t["name"] for t in training_sets] == ["delays_2013"]
    assert training_sets[0]["rights"]["terms"]["pii"] == "none"
    assert client.get("/catalog/models", headers=READER).json() == []


def test_401_without_a_token_or_with_a_wrong_one(client: TestClient) -> None:
    missing = client.get("/catalog/search")
    wrong = client.get("/catalog/search", headers={"Authorization": "Bearer nope"})

    assert missing.status_code == wrong.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert missing.json() == {
        "error": "AuthenticationError",
        "detail": "This needs an API token: send `Authorization: Bearer <token>` with a token "
        "from the `api_tokens` setting.",
    }
    assert wrong.json() == {
        "error": "AuthenticationError",
        "detail": "The API token is not valid; use one listed in the `api_tokens` setting.",
    }


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("/catalog/features/weather_hourly/nope", "feature `weather_hourly:nope` does not exist"),
        ("/catalog/objects/feature_view/nope", "feature view `nope` does not exist"),
        ("/catalog/lineage/model/nope", "model `nope` does not exist"),
        ("/catalog/views/nope/coverage", "feature view `nope` does not exist"),
        ("/catalog/rights/training_set/nope", "training set `nope` does not exist"),
    ],
)
def test_404_names_the_unknown_object(client: TestClient, url: str, named: str) -> None:
    response = client.get(url, headers=READER)

    assert response.status_code == 404
    assert response.json()["error"] == "ObjectNotFoundError"
    assert response.json()["detail"].startswith(named)


def test_404_for_an_unknown_feature_in_a_check(client: TestClient) -> None:
    response = client.post(
        "/catalog/rights/check",
        json={"purpose": "training", "features": ["weather_hourly:nope"]},
        headers=READER,
    )

    assert response.status_code == 404
    assert "feature `weather_hourly:nope` does not exist" in response.json()["detail"]


@pytest.mark.parametrize(
    ("method", "url", "body", "loc"),
    [
        ("get", "/catalog/search?page=0", None, ["query", "page"]),
        ("get", "/catalog/objects/table/x", None, ["path", "kind"]),
        ("post", "/catalog/rights/check", {"purpose": "Not OK"}, ["body", "purpose"]),
        (
            "post",
            "/catalog/views/weather_hourly/coverage/point-in-time",
            {"entity_rows": [{"origin": "JFK", "event_timestamp": "yesterday"}]},
            ["body", "entity_rows", 0, "event_timestamp"],
        ),
    ],
)
def test_422_names_the_invalid_field(
    client: TestClient, method: str, url: str, body: object, loc: list[object]
) -> None:
    response = client.request(method, url, json=body, headers=READER)

    assert response.status_code == 422
    assert response.json()["loc"] == loc
    assert response.json()["error"] == "RequestValidationError"


def test_feature_quality_without_a_reference_set_drifts_against_the_first_day(
    client: TestClient,
) -> None:
    body = get(client, "/catalog/features/weather_hourly/temp/quality")
    missing = client.get("/catalog/features/weather_hourly/nope/quality", headers=READER)

    validation = body["validation"]
    assert (body["feature"], validation["passed"], validation["rows"]) == (
        "weather_hourly:temp",
        True,
        26_115,
    )
    assert {rule["rule"] for rule in validation["rules"]} == {
        "rows",
        "nan_inf",
        "below_min",
        "above_max",
        "future_event",
        "created_before_event",
        "duplicates",
    }
    # The fixture's manifest predates reference statistics: no skew, drift against day one.
    assert (body["training_set"], body["skew"], body["distribution"]) == (None, [], None)
    drift = body["drift"]
    assert drift["reference"].startswith("first window (2013-01-01")
    assert len(drift["starts"]) == len(drift["psi"]) == len(drift["js"]) >= 360
    assert drift["psi"][0] == 0.0
    assert missing.status_code == 404
    assert missing.json()["error"] == "ObjectNotFoundError"
