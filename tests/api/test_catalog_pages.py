"""The catalog's HTML pages render the flights repo, with every asset served locally."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from catalog_app import catalog_client
from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client(
    flights_data_dir: Path, tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> Iterator[TestClient]:
    with catalog_client(flights_data_dir, tmp_path_factory.mktemp("pages"), redis_url) as client:
        client.cookies.set("featurestore_token", "reader-token")
        yield client


def page(client: TestClient, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    return response.text


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/", ["What data exists", "weather_hourly", "delay_model_v1"]),
        ("/features?q=temperature", ["weather_hourly:temp", "Air temperature."]),
        ("/features?entity=plane&purpose=training", ["plane_attributes:seats", "Filters:"]),
        (
            "/features/weather_hourly/temp",
            ["Definition", "Rights to use", "Lineage", "Coverage", "Freshness", "<svg"],
        ),
        ("/objects/feature_view/carrier_daily_stats", ["on_time_rate", "Rights to use"]),
        ("/objects/data_source/departures_stream", ["KafkaSource", "flights.departures"]),
        ("/objects/training_set/delays_2013", ["delay_model_v1", "weather_hourly:temp"]),
        ("/lineage/feature_service/delay_model_v1?depth=2", ["planes_source", "Nodes"]),
        ("/rights", ["May I use these features"]),
        (
            "/rights?purpose=marketing&features=weather_hourly:temp",
            [
                '<section class="card verdict denied">',
                "Denied: purpose",
                "not allowed by data source `weather_hourly_source`",
            ],
        ),
        ("/audit", ["Audit log", "No changes registered yet"]),
    ],
)
def test_pages_render(client: TestClient, url: str, expected: list[str]) -> None:
    html = page(client, url)

    for text in expected:
        assert text.replace("`", "&#96;") in html or text in html, text


def test_pages_use_only_local_assets(client: TestClient) -> None:
    html = page(client, "/features/weather_hourly/temp")

    assets = re.findall(r'(?:src|href)="([^"]+\.(?:css|js))"', html)
    assert assets == ["/static/catalog.css", "/static/catalog.js"]
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in html
    for asset in assets:
        assert client.get(asset).status_code == 200


def test_user_input_is_escaped(client: TestClient) -> None:
    html = page(client, "/features?q=<script>alert(1)</script>")

    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_unknown_feature_is_a_404_page(client: TestClient) -> None:
    response = client.get("/features/weather_hourly/nope")

    assert response.status_code == 404
    assert "feature `weather_hourly:nope` does not exist" in response.text


def test_without_a_token_the_page_asks_for_one(client: TestClient) -> None:
    response = client.get("/features", cookies={"featurestore_token": ""})

    assert response.status_code == 401
    assert 'id="token-form"' in response.text


@pytest.mark.parametrize(
    ("query", "verdict"),
    [
        ("purpose=training&feature_service=delay_model_v1", "allowed"),
        ("purpose=marketing&feature_service=delay_model_v1", "denied"),
    ],
)
def test_rights_page_shows_the_policy_verdict(client: TestClient, query: str, verdict: str) -> None:
    html = page(client, f"/rights?{query}")

    verdicts = re.findall(r'<section class="card verdict (\w+)">\s*<h2>(\w+):', html)
    assert verdicts == [(verdict, verdict.capitalize())]


def test_rights_placeholder_comes_from_the_registry(client: TestClient) -> None:
    html = page(client, "/rights")

    [placeholder] = re.findall(r'name="features"[^>]*placeholder="([^"]*)"', html)
    refs = placeholder.split()
    assert len(refs) == 2
    assert refs == sorted(refs)
    assert refs[0].startswith("carrier_daily_stats:")
