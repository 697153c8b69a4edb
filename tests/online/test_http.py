"""POST /online/features and GET /metrics of the API app, against a real Redis."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from fastapi.testclient import TestClient
from feast import FeatureService
from online_repo import NOW, TRAINING_ONLY, MiniRepo, driver_rows, driver_stats_view

from featurestore.api import create_app
from featurestore.online.client import OnlineFeatures, Status
from featurestore.online.serving_log import ServingLog
from featurestore.online.writer import OnlineWriter
from featurestore.services.process import free_port
from featurestore.settings import load_settings

pytestmark = pytest.mark.integration


def api(repo: MiniRepo, **settings: Any) -> TestClient:
    configured = load_settings(
        repo_path=repo.settings.repo_path, data_dir=repo.settings.data_dir, **settings
    )
    return TestClient(create_app(configured, str(repo.settings.redis_url)))


@pytest.fixture
def served(repo: MiniRepo) -> MiniRepo:
    view = driver_stats_view(repo.source("stats", driver_rows([1], [NOW])), ttl=timedelta(0))
    repo.apply(view, FeatureService(name="ranker", features=[view[["conv_rate", "rank"]]]))
    OnlineWriter(repo.redis, repo.project).write(view, driver_rows([1, 2], [NOW, NOW]))
    return repo


def test_features_come_back_in_feast_shape_with_statuses_and_times(served: MiniRepo) -> None:
    body = {"features": ["driver_stats:trips"], "entities": {"driver_id": [2, 9]}}

    response = api(served).post("/online/features", json=body)

    assert response.status_code == 200
    assert response.json() == {
        "metadata": {"feature_names": ["driver_id", "trips"]},
        "results": [
            {
                "values": [2, 9],
                "statuses": ["PRESENT", "PRESENT"],
                "event_timestamps": ["1970-01-01T00:00:00Z"] * 2,
            },
            {
                "values": [100, None],
                "statuses": ["PRESENT", "NOT_FOUND"],
                "event_timestamps": ["2026-11-01T12:00:00Z", "1970-01-01T00:00:00Z"],
            },
        ],
    }


def test_a_disallowed_purpose_is_403_naming_the_features(repo: MiniRepo) -> None:
    view = driver_stats_view(repo.source("stats", driver_rows([1], [NOW])), tags=TRAINING_ONLY)
    repo.apply(view)
    body = {"features": ["driver_stats:trips", "driver_stats:rank"], "entities": {"driver_id": [1]}}

    response = api(repo).post("/online/features", json=body)

    assert response.status_code == 403
    answer = response.json()
    assert (answer["error"], [reason["feature"] for reason in answer["reasons"]]) == (
        "PurposeNotAllowedError",
        ["driver_stats:trips", "driver_stats:rank"],
    )
    assert answer["detail"].startswith("Purpose `serving` is not allowed for `driver_stats:trips`")


@pytest.mark.parametrize(
    ("body", "location", "problem"),
    [
        ("{not json", ["body"], "not valid JSON"),
        ({"entities": {"driver_id": [1]}}, ["body"], "exactly one of `features`"),
        ({"features": ["driver_stats:trips"]}, ["body", "entities"], "Field required"),
        (
            {"features": "driver_stats:trips", "entities": {"driver_id": [1]}},
            ["body", "features"],
            "array",
        ),
        (
            {"feature_service": "ranker", "entities": {"driver_id": 1}},
            ["body", "entities", "driver_id"],
            "array",
        ),
        ({"feature_service": "ranker", "entities": {"driver_id": []}}, ["body"], "no rows"),
    ],
)
def test_a_malformed_request_is_422_saying_what_is_wrong(
    served: MiniRepo, body: Any, location: list[str], problem: str
) -> None:
    client = api(served)
    if isinstance(body, str):
        response = client.post("/online/features", content=body)
    else:
        response = client.post("/online/features", json=body)

    assert response.status_code == 422
    answer = response.json()
    assert answer["error"] == "RequestValidationError"
    assert answer["loc"] == location
    assert problem in answer["detail"]
    assert set(answer) == {"error", "detail", "loc"}


def test_the_422_names_no_example_domain(served: MiniRepo) -> None:
    response = api(served).post("/online/features", json={"entities": {"driver_id": [1]}})

    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "delay_model_v1" not in detail and "JFK" not in detail


def test_a_wrong_join_key_is_422_naming_it(served: MiniRepo) -> None:
    body = {"feature_service": "ranker", "entities": {"driver": [1]}}

    response = api(served).post("/online/features", json=body)

    assert response.status_code == 422
    assert "lack join key(s) `driver_id`" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"features": ["driver_stats:speed"]}, "feature `driver_stats:speed`"),
        ({"features": ["cars:speed"]}, "feature view `cars`"),
        ({"feature_service": "nope"}, "feature service `nope`"),
    ],
)
def test_an_unknown_feature_is_404_naming_it(
    served: MiniRepo, body: dict[str, Any], named: str
) -> None:
    response = api(served).post("/online/features", json={**body, "entities": {"driver_id": [1]}})

    assert response.status_code == 404
    assert response.json()["detail"].startswith(f"{named} does not exist")


def test_metrics_count_latency_and_statuses_per_view(served: MiniRepo) -> None:
    client = api(served)
    client.post(
        "/online/features", json={"feature_service": "ranker", "entities": {"driver_id": [1, 5]}}
    )
    client.post("/online/features", json={"features": ["nope:x"], "entities": {"driver_id": [1]}})

    text = client.get("/metrics").text

    assert 'featurestore_online_values_total{view="driver_stats",status="PRESENT"} 2' in text
    assert 'featurestore_online_values_total{view="driver_stats",status="NOT_FOUND"} 2' in text
    assert 'featurestore_online_request_seconds_count{outcome="ok"} 1' in text
    assert 'featurestore_online_request_seconds_count{outcome="404"} 1' in text
    assert 'featurestore_online_request_seconds_bucket{outcome="ok",le="+Inf"} 1' in text
    assert "featurestore_serving_log_dropped_total 0" in text


def test_served_vectors_are_logged_to_date_partitioned_parquet(served: MiniRepo) -> None:
    client = api(served, serving_log_sample_rate=1.0)
    body = {"feature_service": "ranker", "entities": {"driver_id": [1, 7]}}
    client.post("/online/features", json=body)
    client.post("/online/features", json=body)
    log = client.app.state.serving_log  # type: ignore[attr-defined]

    log.close()

    pattern = str(served.settings.data_dir / "serving_log" / "*" / "*.parquet")
    rows = duckdb.execute(
        "SELECT date, feature_service, entity_key, conv_rate, conv_rate__status, rank "
        "FROM read_parquet(?, hive_partitioning = true) ORDER BY entity_key",
        [pattern],
    ).fetchall()
    today = datetime.now(UTC).date()
    assert rows == [
        (today, "ranker", '{"driver_id": 1}', 0.0, "PRESENT", "r0"),
        (today, "ranker", '{"driver_id": 1}', 0.0, "PRESENT", "r0"),
        (today, "ranker", '{"driver_id": 7}', None, "NOT_FOUND", None),
        (today, "ranker", '{"driver_id": 7}', None, "NOT_FOUND", None),
    ]
    assert (log.written_vectors, log.dropped) == (4, 0)


class _StuckLog(ServingLog):
    """A serving log whose disk never answers: its writer waits until released."""

    release = threading.Event()

    def _flush(self, served: list[Any]) -> None:
        self.release.wait()


def test_a_full_serving_log_drops_and_counts_instead_of_blocking(tmp_path: Path) -> None:
    log = _StuckLog(tmp_path, sample_rate=1.0, queue_size=2, flush_rows=1)
    result = OnlineFeatures(
        {"driver_id": [1]}, {"trips": [3]}, {"trips": [Status.PRESENT]}, {"trips": [NOW]}
    )

    queued = [log.record(result) for _ in range(50)]

    _StuckLog.release.set()
    log.close()
    # The writer took at most one item off the queue before it got stuck.
    assert 2 <= sum(queued) <= 3
    assert log.dropped == 50 - sum(queued)


def test_redis_away_is_503_saying_so(served: MiniRepo) -> None:
    settings = load_settings(repo_path=served.settings.repo_path, data_dir=served.settings.data_dir)
    client = TestClient(create_app(settings, f"redis://127.0.0.1:{free_port()}/0"))
    body = {"feature_service": "ranker", "entities": {"driver_id": [1]}}

    response = client.post("/online/features", json=body)

    assert response.status_code == 503
    assert response.json()["error"] == "ServiceError"
    assert "Redis did not answer" in response.json()["detail"]


def test_too_many_entity_rows_is_413_naming_the_limit(served: MiniRepo) -> None:
    body = {"feature_service": "ranker", "entities": {"driver_id": list(range(1001))}}

    default = api(served).post("/online/features", json=body)
    configured = api(served, online_max_entity_rows=2).post(
        "/online/features", json={**body, "entities": {"driver_id": [1, 2, 3]}}
    )

    assert (default.status_code, configured.status_code) == (413, 413)
    assert default.json() == {
        "error": "LimitExceededError",
        "detail": "The request has 1,001 entity rows, more than the limit of 1,000; split it "
        "into smaller requests, or raise `online_max_entity_rows`.",
    }
    assert "more than the limit of 2;" in configured.json()["detail"]


def test_a_body_over_the_size_limit_is_413(served: MiniRepo) -> None:
    body = {"feature_service": "ranker", "entities": {"driver_id": [1] * 1000}}

    response = api(served, online_max_body_bytes=1024).post("/online/features", json=body)

    assert response.status_code == 413
    assert response.json()["error"] == "LimitExceededError"
    assert "`online_max_body_bytes`" in response.json()["detail"]


@pytest.mark.parametrize(
    ("value", "shown"),
    [({"a": 1}, '{"a": 1}'), ([1], "[1]"), (True, "true"), (None, "null"), ("1", '"1"')],
)
def test_an_entity_value_of_the_wrong_type_is_422_naming_key_index_and_value(
    served: MiniRepo, value: object, shown: str
) -> None:
    body = {"feature_service": "ranker", "entities": {"driver_id": [1, value]}}

    response = api(served).post("/online/features", json=body)

    assert response.status_code == 422
    assert response.json() == {
        "error": "EntityKeyError",
        "detail": f"Entity value `{shown}` of join key `driver_id` at index 1 is not an integer "
        "(INT64); send each `driver_id` as an integer (INT64).",
        "loc": ["body", "entities", "driver_id", 1],
    }


def test_with_tokens_configured_online_features_need_one(served: MiniRepo) -> None:
    tokens = {"serve-token": "serving", "reader-token": "reader"}
    client = api(served, api_tokens=tokens)
    opened = api(served, api_tokens=tokens, online_features_open=True)
    body = {"feature_service": "ranker", "entities": {"driver_id": [1]}}

    missing = client.post("/online/features", json=body)
    wrong = client.post("/online/features", json=body, headers={"Authorization": "Bearer x"})
    serving = client.post(
        "/online/features", json=body, headers={"Authorization": "bearer serve-token"}
    )
    catalog = client.get("/catalog/search", headers={"Authorization": "Bearer serve-token"})

    assert (missing.status_code, wrong.status_code, serving.status_code) == (401, 401, 200)
    assert missing.headers["www-authenticate"] == "Bearer"
    assert missing.json()["error"] == "AuthenticationError"
    assert catalog.status_code == 403
    assert opened.post("/online/features", json=body).status_code == 200
