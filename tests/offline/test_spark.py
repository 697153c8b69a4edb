"""Spark as the offline engine (`offline_store: {type: spark}`): the same training sets and
online values as DuckDB, through Feast's Spark offline store on a local session.

One Spark session (local[2]) serves the whole module; the flights repo is applied once and read
by two repos that differ only in `offline_store`."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import pyarrow.parquet as pq
import pytest
import redis
from feast import FeatureStore

from featurestore.apply import apply_repo
from featurestore.examples.flights import ingest_flights
from featurestore.online.materialize import materialize
from featurestore.repo import open_store
from featurestore.settings import Settings, load_settings
from featurestore.training import SplitSpec, TrainingSetRequest, build_training_set

pyspark = pytest.importorskip("pyspark")

pytestmark = [pytest.mark.spark, pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2] / "feature_repo"
SPARK_OFFLINE_STORE = """offline_store:
  type: spark
  spark_conf:
    spark.master: "local[2]"
    spark.sql.shuffle.partitions: "2"
    spark.default.parallelism: "2"
    spark.driver.memory: "1g"
    spark.ui.enabled: "false"
    spark.ui.showConsoleProgress: "false"
    spark.sql.session.timeZone: UTC
"""
# Three days of March flights: every view of the delay model has rows before, during and after it.
SPINE_WHERE = (
    "scheduled_departure >= TIMESTAMPTZ '2013-03-04' "
    "AND scheduled_departure < TIMESTAMPTZ '2013-03-07'"
)
# From the planes snapshot (stamped 2013-01-01 00:00, the inclusive start) to a week in March.
MATERIALIZE_START = datetime(2013, 1, 1, tzinfo=UTC)
MATERIALIZE_END = datetime(2013, 3, 8, tzinfo=UTC)


SETTINGS: dict[str, Settings] = {}


def with_database(redis_url: str, database: int) -> str:
    return urlunparse(urlparse(redis_url)._replace(path=f"/{database}"))


@pytest.fixture(scope="module")
def spark_session() -> Iterator[Any]:
    """Stopped when the module ends, so its JVM does not outlive these tests."""
    yield None
    active = pyspark.sql.SparkSession.getActiveSession()
    if active is not None:
        active.stop()


@pytest.fixture(scope="module")
def stores(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, spark_session: Any
) -> dict[str, FeatureStore]:
    """The flights repo applied once, opened with the DuckDB and with the Spark engine."""
    root = tmp_path_factory.mktemp("spark")
    data_dir = root / "data"
    ingest_flights(data_dir)
    duck_repo = root / "duckdb"
    shutil.copytree(REPO, duck_repo, ignore=shutil.ignore_patterns("__pycache__"))
    spark_repo = root / "spark"
    shutil.copytree(REPO, spark_repo, ignore=shutil.ignore_patterns("__pycache__"))
    yaml_path = spark_repo / "feature_store.yaml"
    text = yaml_path.read_text()
    head, _, rest = text.partition("offline_store:")
    tail = rest[rest.index("entity_key_serialization_version") :]
    yaml_path.write_text(head + SPARK_OFFLINE_STORE + tail)
    duck = load_settings(data_dir=data_dir, repo_path=duck_repo, redis_url=redis_url)
    apply_repo(duck, redis_url)
    spark = load_settings(data_dir=data_dir, repo_path=spark_repo, redis_url=redis_url)
    SETTINGS.update(duckdb=duck, spark=spark)
    return {"duckdb": open_store(duck, redis_url), "spark": open_store(spark, redis_url)}


def spine_sql(store: FeatureStore) -> str:
    flights = Path(store.config.repo_path).parent / "data" / "sources" / "flights.parquet"
    return (
        "SELECT flight_id, origin, carrier, tailnum, origin || '-' || dest AS route, "
        "scheduled_departure AS event_timestamp, arrived_delayed_15 "
        f"FROM read_parquet('{flights}') WHERE arrived_delayed_15 IS NOT NULL AND {SPINE_WHERE}"
    )


def build(store: FeatureStore, output: Path, as_known_at: bool) -> dict[str, Any]:
    request = TrainingSetRequest(
        name="delay_model_v1",
        features="delay_model_v1",
        spine=spine_sql(store),
        label="arrived_delayed_15",
        split=SplitSpec(fractions=(0.7, 0.15, 0.15)),
        as_known_at=as_known_at,
    )
    result = build_training_set(store, request, output)
    manifest: dict[str, Any] = json.loads(result.manifest_path.read_text())
    manifest["tables"] = {name: pq.read_table(path) for name, path in result.paths.items()}
    return manifest


@pytest.mark.parametrize("as_known_at", [True, False], ids=["as-known-at", "plain"])
def test_training_set_on_spark_equals_duckdb(
    stores: dict[str, FeatureStore], tmp_path: Path, as_known_at: bool
) -> None:
    duck = build(stores["duckdb"], tmp_path / "duckdb", as_known_at)
    spark = build(stores["spark"], tmp_path / "spark", as_known_at)

    for split in ("train", "validation", "test"):
        ours, theirs = spark["tables"][split], duck["tables"][split]
        assert ours.schema == theirs.schema, split
        assert ours.num_rows == theirs.num_rows > 0, split
        for name in theirs.column_names:
            assert ours.column(name).to_pylist() == theirs.column(name).to_pylist(), (split, name)
    # The set is not trivially equal: features are mostly filled in.
    weather = duck["tables"]["train"].column("temp")
    assert weather.null_count < len(weather) / 2
    if as_known_at:
        assert sum(duck["hidden_by_knowledge_time"].values()) > 0
    assert spark["hidden_by_knowledge_time"] == duck["hidden_by_knowledge_time"]

    assert spark["engine"]["name"] == "Feast Spark offline store"
    assert duck["engine"]["name"] == "featurestore ASOF (DuckDB)"
    assert "pyspark" in spark["engine"]["versions"]
    ignored = {"engine", "tables", "rebuild"}
    differing = {key for key in duck.keys() | spark.keys() if duck.get(key) != spark.get(key)}
    # The rebuild command names each repo (same command otherwise).
    assert differing - ignored == set()
    spark_repo, duck_repo = (str(stores[name].config.repo_path) for name in ("spark", "duckdb"))
    assert spark["rebuild"].replace(spark_repo, duck_repo) == duck["rebuild"]


def online_state(client: redis.Redis) -> dict[bytes, dict[bytes, bytes]]:
    return {key: client.hgetall(key) for key in client.scan_iter(count=1000)}  # type: ignore[misc]


def test_materialize_through_spark_writes_the_same_online_values(
    stores: dict[str, FeatureStore], redis_url: str
) -> None:
    views = ["weather_hourly", "carrier_daily_stats", "plane_attributes"]
    states = {}
    for database, engine in ((11, "duckdb"), (12, "spark")):
        client = redis.Redis.from_url(with_database(redis_url, database))
        client.flushdb()
        done = materialize(stores[engine], client, MATERIALIZE_START, MATERIALIZE_END, views=views)
        assert all(view.written > 0 for view in done)
        states[engine] = online_state(client)
        client.flushdb()
        client.close()
    assert len(states["duckdb"]) > 100
    assert states["spark"] == states["duckdb"]


@pytest.mark.parametrize("view", ["plane_attributes", "route_attributes"])
def test_catalog_coverage_on_spark_equals_duckdb(
    stores: dict[str, FeatureStore], redis_url: str, view: str
) -> None:
    from featurestore.catalog.service import CatalogService

    answers = {}
    for engine in ("duckdb", "spark"):
        # Both repos share a data dir: drop the other engine's cached figures first.
        shutil.rmtree(SETTINGS[engine].data_dir / "catalog" / "coverage", ignore_errors=True)
        answers[engine], cached = CatalogService(SETTINGS[engine], redis_url).view_coverage(view)
        assert not cached
    duck, spark = answers["duckdb"], answers["spark"]
    assert duck.rows > 0
    assert (spark.rows, spark.entities) == (duck.rows, duck.entities)
    assert (spark.first_event, spark.last_event, spark.last_created) == (
        duck.first_event,
        duck.last_event,
        duck.last_created,
    )
    assert spark.features == tuple(
        dataclasses.replace(
            feature, mean=None if feature.mean is None else pytest.approx(feature.mean, rel=1e-12)
        )
        for feature in duck.features
    )
    assert any(feature.top_values for feature in duck.features) or view != "plane_attributes"
