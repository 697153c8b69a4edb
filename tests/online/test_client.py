"""OnlineClient against a real Redis: values with statuses and event times, rights enforced."""

from __future__ import annotations

from datetime import timedelta

import pyarrow as pa
import pytest
import redis
from feast import FeatureService
from online_repo import NOW, TRAINING_ONLY, MiniRepo, driver_rows, driver_stats_view, timestamps
from redis.backoff import NoBackoff
from redis.retry import Retry

from featurestore.errors import ObjectNotFoundError, TransientError
from featurestore.online.client import EntityKeyError, OnlineClient, Status
from featurestore.online.writer import OnlineWriter
from featurestore.policy import PurposeNotAllowedError
from featurestore.services.process import free_port

pytestmark = pytest.mark.integration

REFS = ["driver_stats:conv_rate", "driver_stats:trips"]


@pytest.fixture
def drivers(repo: MiniRepo) -> MiniRepo:
    """Driver 1 fresh, driver 2 two hours old (ttl one hour), driver 4 without `trips`."""
    view = driver_stats_view(repo.source("stats", driver_rows([1], [NOW])))
    service = FeatureService(name="ranker", features=[view[["conv_rate", "trips"]]])
    repo.apply(view, service)
    writer = OnlineWriter(repo.redis, repo.project)
    writer.write(view, driver_rows([1, 2], [NOW, NOW - timedelta(hours=2)], conv_rate=[0.5, 0.25]))
    writer.write(
        view, pa.table({"driver_id": [4], "conv_rate": [0.75], "event_timestamp": timestamps(NOW)})
    )
    return repo


def test_each_value_has_its_status_and_event_time(drivers: MiniRepo) -> None:
    client = OnlineClient(drivers.store, drivers.redis)

    result = client.get(
        REFS, [{"driver_id": i} for i in (1, 2, 3, 4)], now=NOW + timedelta(minutes=1)
    )

    earlier = NOW - timedelta(hours=2)
    assert result.to_dict() == {
        "driver_id": [1, 2, 3, 4],
        "conv_rate": [0.5, 0.25, None, 0.75],
        "trips": [0, 100, None, None],
    }
    assert result.statuses == {
        "conv_rate": [Status.PRESENT, Status.EXPIRED, Status.NOT_FOUND, Status.PRESENT],
        "trips": [Status.PRESENT, Status.EXPIRED, Status.NOT_FOUND, Status.NOT_FOUND],
    }
    assert result.event_timestamps == {
        "conv_rate": [NOW, earlier, None, NOW],
        "trips": [NOW, earlier, None, None],
    }


def test_a_feature_service_by_name_with_full_feature_names_and_columns(drivers: MiniRepo) -> None:
    client = OnlineClient(drivers.store, drivers.redis)

    result = client.get("ranker", {"driver_id": [2, 1, 2]}, full_feature_names=True, now=NOW)

    assert result.feature_service == "ranker"
    assert result.to_dict() == {
        "driver_id": [2, 1, 2],
        "driver_stats__conv_rate": [0.25, 0.5, 0.25],
        "driver_stats__trips": [100, 0, 100],
    }
    frame = result.to_pandas()
    assert list(frame.columns) == [
        "driver_id",
        "driver_stats__conv_rate",
        "driver_stats__conv_rate__status",
        "driver_stats__conv_rate__event_timestamp",
        "driver_stats__trips",
        "driver_stats__trips__status",
        "driver_stats__trips__event_timestamp",
    ]
    assert frame["driver_stats__trips__status"].tolist() == ["EXPIRED", "PRESENT", "EXPIRED"]


def test_the_answer_matches_feasts_own_reader(drivers: MiniRepo) -> None:
    rows = [{"driver_id": i} for i in (1, 2, 3, 4)]

    ours = OnlineClient(drivers.store, drivers.redis).get(REFS, rows).to_dict()

    assert ours == drivers.store.get_online_features(features=REFS, entity_rows=rows).to_dict()


def test_serving_refuses_features_whose_rights_do_not_allow_it(repo: MiniRepo) -> None:
    view = driver_stats_view(repo.source("stats", driver_rows([1], [NOW])), tags=TRAINING_ONLY)
    repo.apply(view)

    with pytest.raises(PurposeNotAllowedError) as refused:
        OnlineClient(repo.store, repo.redis).get(REFS, [{"driver_id": 1}])

    assert [denial.feature for denial in refused.value.denials] == REFS
    assert "Purpose `serving` is not allowed for `driver_stats:conv_rate`" in str(refused.value)


def test_unknown_features_views_and_services_are_named(drivers: MiniRepo) -> None:
    client = OnlineClient(drivers.store, drivers.redis)

    with pytest.raises(ObjectNotFoundError, match="feature `driver_stats:speed` does not exist"):
        client.get(["driver_stats:speed"], [{"driver_id": 1}])
    with pytest.raises(ObjectNotFoundError, match="feature view `cars` does not exist"):
        client.get(["cars:speed"], [{"driver_id": 1}])
    with pytest.raises(ObjectNotFoundError, match="feature service `nope` does not exist"):
        client.get("nope", [{"driver_id": 1}])


def test_missing_or_malformed_join_keys_are_refused(drivers: MiniRepo) -> None:
    client = OnlineClient(drivers.store, drivers.redis)

    with pytest.raises(EntityKeyError, match="lack join key\\(s\\) `driver_id`"):
        client.get(REFS, [{"driver": 1}])
    with pytest.raises(EntityKeyError, match="different lengths"):
        client.get(REFS, {"driver_id": [1, 2], "city": ["x"]})
    with pytest.raises(EntityKeyError, match="`'one'` of feature view `driver_stats`"):
        client.get(REFS, [{"driver_id": "one"}])


def test_an_unreachable_redis_is_a_transient_error(drivers: MiniRepo) -> None:
    down = redis.Redis(port=free_port(), retry=Retry(NoBackoff(), 0))
    client = OnlineClient(drivers.store, down)

    with pytest.raises(TransientError, match="Redis did not answer while trying to `read"):
        client.get(REFS, [{"driver_id": 1}])
