"""`featurestore.FeatureStore`, the Python entry point, on a freshly scaffolded repo."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from featurestore import FeatureStore
from featurestore.apply import apply_repo
from featurestore.errors import ConfigError
from featurestore.policy import PurposeNotAllowedError
from featurestore.scaffold import init_repo
from featurestore.settings import load_settings

pytestmark = pytest.mark.integration

ENTITY_ROWS = pd.DataFrame(
    {
        "customer_id": ["C001", "C002"],
        "event_timestamp": pd.to_datetime(["2024-01-05T12:00Z", "2024-01-06T03:00Z"]),
    }
)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Path:
    # A project of its own: the session Redis also holds other tests' `shop` keys.
    scaffold = init_repo(tmp_path_factory.mktemp("store") / "facade_shop")
    settings = load_settings(repo_path=scaffold.repo_path, data_dir=scaffold.data_dir)
    apply_repo(settings, redis_url)
    return scaffold.root


@pytest.fixture
def fs(shop: Path, redis_url: str) -> Iterator[FeatureStore]:
    with FeatureStore(
        repo=shop / "feature_repo", data_dir=shop / "data", redis_url=redis_url
    ) as store:
        yield store


def test_historical_answers_as_of_each_row_in_every_output_form(fs: FeatureStore) -> None:
    arrow = fs.historical(ENTITY_ROWS, "return_model_v1")
    frame = fs.historical(pa.Table.from_pandas(ENTITY_ROWS), "return_model_v1", output="pandas")
    batches = fs.historical(ENTITY_ROWS, ["customer_daily_stats:spend_7d"], output="batches")

    assert isinstance(arrow, pa.Table)
    # At 2024-01-06 03:00 the row stamped at midnight is not published until 06:00, so the
    # one stamped a day earlier is the latest known.
    assert arrow.column("orders_7d").to_pylist() == [3, 4]
    assert isinstance(frame, pd.DataFrame)
    assert frame["spend_7d"].tolist() == arrow.column("spend_7d").to_pylist()
    assert pa.Table.from_batches(list(batches)).column_names == [
        "customer_id",
        "event_timestamp",
        "spend_7d",
    ]


def test_historical_checks_the_purpose(fs: FeatureStore) -> None:
    with pytest.raises(PurposeNotAllowedError, match="marketing"):
        fs.historical(ENTITY_ROWS, "return_model_v1", purpose="marketing")


def test_training_set_writes_under_the_data_dir(fs: FeatureStore, shop: Path) -> None:
    result = fs.training_set(
        "from_python", "return_model_v1", shop / "data" / "spines" / "orders.parquet", "returned"
    )

    assert result.directory == shop / "data" / "training" / "from_python"
    assert result.rows == {"train": 28, "validation": 6, "test": 6}


def test_materialize_then_online_read(fs: FeatureStore) -> None:
    done = fs.materialize(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 6, tzinfo=UTC))
    online = fs.online("return_model_v1", [{"customer_id": "C001"}, {"customer_id": "C999"}])

    assert [(view.view, view.written) for view in done] == [("customer_daily_stats", 3)]
    assert online.values["orders_7d"][0] == 4
    assert [str(s) for s in online.statuses["orders_7d"]] == ["EXPIRED", "NOT_FOUND"]


def test_without_redis_online_work_is_refused_and_nothing_recorded(shop: Path) -> None:
    with FeatureStore(repo=shop / "feature_repo", data_dir=shop / "data") as fs:
        intervals = fs.feast.get_feature_view("customer_daily_stats").materialization_intervals
        with pytest.raises(ConfigError, match="No Redis configured"):
            fs.materialize(datetime(2024, 1, 1, tzinfo=UTC))
        with pytest.raises(ConfigError, match="No Redis configured"):
            fs.online("return_model_v1", [{"customer_id": "C001"}])
        fs.feast.refresh_registry()
        after = fs.feast.get_feature_view("customer_daily_stats").materialization_intervals
        assert after == intervals


def test_catalog_searches_traces_and_checks_rights(fs: FeatureStore) -> None:
    found = fs.catalog.search("spend")
    lineage = fs.catalog.lineage("feature_view", "customer_daily_stats")
    decision = fs.catalog.check_rights("marketing", ["customer_daily_stats:spend_7d"])

    assert [f"{hit.feature.view}:{hit.feature.name}" for hit in found.hits] == [
        "customer_daily_stats:spend_7d"
    ]
    names = {node.name for node in lineage.nodes}
    assert {"customer_daily_stats_source", "return_model_v1"} <= names
    assert not decision.allowed
    assert fs.feast.project == "facade_shop"


def test_a_missing_repo_is_refused_before_anything_opens(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="featurestore init"):
        FeatureStore(repo=tmp_path / "nothing")


def test_historical_takes_a_parquet_file_or_a_duckdb_query(fs: FeatureStore, shop: Path) -> None:
    orders = shop / "data" / "spines" / "orders.parquet"

    from_file = fs.historical(orders, ["customer_daily_stats:orders_7d"])
    from_query = fs.historical(
        f"SELECT customer_id, event_timestamp FROM read_parquet('{orders}')",
        ["customer_daily_stats:orders_7d"],
    )

    assert isinstance(from_file, pa.Table) and isinstance(from_query, pa.Table)
    assert from_file.num_rows == from_query.num_rows == 40
    assert from_file.column("orders_7d") == from_query.column("orders_7d")
