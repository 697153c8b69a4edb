"""The flights repo end to end: materialize, then serve as `feast serve` would, plus freshness."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from feast.feature_server_utils import convert_response_to_dict
from online_repo import PRISTINE_REGISTRY, with_database
from typer.testing import CliRunner

from featurestore.api import create_app
from featurestore.cli import app
from featurestore.online.materialize import materialize
from featurestore.repo import open_store
from featurestore.settings import Settings, load_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

START = datetime(2012, 12, 31, tzinfo=UTC)
END = datetime(2014, 1, 2, tzinfo=UTC)
ENTITIES = {
    "origin": ["JFK", "EWR", "XXX"],
    "carrier": ["B6", "UA", "ZZ"],
    "tailnum": ["N665JB", "N14228", "NOPE"],
    "route": ["JFK-PSE", "EWR-IAH", "XXX-YYY"],
}


@pytest.fixture(scope="module")
def materialized(flights: Settings) -> Settings:
    store = open_store(flights, str(flights.redis_url))
    client = redis.Redis.from_url(str(flights.redis_url))
    materialize(store, client, START, END)
    client.close()
    return flights


def feast_serve_answer(settings: Settings, body: dict[str, Any]) -> dict[str, Any]:
    """What `feast serve` answers: Feast's SDK read, converted by its server's own function."""
    store = open_store(settings, str(settings.redis_url))
    response = store.get_online_features(
        features=store.get_feature_service(body["feature_service"]), entity_rows=body["entities"]
    )
    return convert_response_to_dict(response.proto)


def test_answers_have_feast_serves_shape_and_values(materialized: Settings) -> None:
    body = {"feature_service": "delay_model_v1", "entities": ENTITIES}

    ours = TestClient(create_app(materialized, str(materialized.redis_url))).post(
        "/online/features", json=body
    )

    theirs = feast_serve_answer(materialized, body)
    answer = ours.json()
    assert ours.status_code == 200
    names = answer["metadata"]["feature_names"]
    feast_names = theirs["metadata"]["feature_names"]
    assert sorted(names) == sorted(feast_names)  # Feast's own order varies from run to run
    assert names[:4] == list(ENTITIES)
    values = dict(zip(names, (r["values"] for r in answer["results"]), strict=True))
    assert values == dict(zip(feast_names, (r["values"] for r in theirs["results"]), strict=True))
    statuses = dict(zip(names, (r["statuses"] for r in answer["results"]), strict=True))
    # 2013 data: every ttl'd value is EXPIRED, static ones PRESENT, unknown keys NOT_FOUND.
    assert statuses["temp"] == ["EXPIRED", "EXPIRED", "NOT_FOUND"]
    assert statuses["distance"] == ["PRESENT", "PRESENT", "NOT_FOUND"]
    assert theirs["results"][feast_names.index("temp")]["statuses"] == ["PRESENT"] * 3
    times = dict(zip(names, (r["event_timestamps"] for r in answer["results"]), strict=True))
    assert times["temp"][2] == "1970-01-01T00:00:00Z"
    feast_times = theirs["results"][feast_names.index("temp")]["event_timestamps"]
    assert times["temp"][:2] == feast_times[:2]


@pytest.mark.e2e
def test_the_cli_materializes_and_records_the_interval(flights: Settings, tmp_path: Path) -> None:
    # A registry of its own (the sources stay where they are); Redis database 3 of its own.
    shutil.copy(flights.data_dir / PRISTINE_REGISTRY, tmp_path / "registry.db")
    redis_url = with_database(str(flights.redis_url), 3)
    env = {"FEATURESTORE_REDIS_URL": redis_url, "COLUMNS": "200"}
    command = ["materialize", "--data-dir", str(tmp_path), "--view", "weather_hourly"]
    runner = CliRunner()

    first = runner.invoke(
        app, [*command, "--start", "2013-01-01", "--end", "2013-06-30T00:00Z"], env=env
    )
    second = runner.invoke(app, [*command, "--incremental", "--end", "2014-01-02"], env=env)
    refused = runner.invoke(app, [*command, "--start", "2013-01-01", "--incremental"], env=env)

    assert first.exit_code == 0, first.output
    assert (
        "weather_hourly │ 2013-01-01 00:00 │ 2013-06-30 00:00 │    3 │       3 │" in first.stdout
    ), first.stdout
    assert second.exit_code == 0, second.output
    assert (
        "weather_hourly │ 2013-06-30 00:00 │ 2014-01-02 00:00 │    3 │       3 │" in second.stdout
    )
    mine = load_settings(data_dir=tmp_path, redis_url=redis_url)
    view = open_store(mine, redis_url).get_feature_view("weather_hourly")
    assert view.materialization_intervals == [
        (datetime(2013, 1, 1, tzinfo=UTC), datetime(2013, 6, 30, tzinfo=UTC)),
        (datetime(2013, 6, 30, tzinfo=UTC), datetime(2014, 1, 2, tzinfo=UTC)),
    ]
    assert refused.exit_code == 2
    assert "give either --start" in refused.output
