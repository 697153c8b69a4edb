"""A Redis Cluster as the online store: same keys, same answers as one node, through reshards."""

from __future__ import annotations

import contextlib
import io
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from redis.cluster import RedisCluster

from featurestore.api import create_app
from featurestore.catalog.freshness import online_freshness
from featurestore.errors import ServiceError
from featurestore.online.client import OnlineClient
from featurestore.online.connection import RedisClient, connect, primaries
from featurestore.online.materialize import materialize
from featurestore.online.routing import slot_of
from featurestore.online.writer import OnlineWriter
from featurestore.repo import open_store
from featurestore.services.redis_cluster import EmbeddedRedisCluster
from featurestore.settings import Settings, load_settings

pytestmark = pytest.mark.integration

START = datetime(2012, 12, 31, tzinfo=UTC)
END = datetime(2014, 1, 2, tzinfo=UTC)
NOW = datetime(2014, 1, 1, tzinfo=UTC)
ENTITIES = {
    "origin": ["JFK", "EWR", "LGA", "XXX"],
    "carrier": ["B6", "UA", "DL", "ZZ"],
    "tailnum": ["N665JB", "N14228", "N24211", "NOPE"],
    "route": ["JFK-PSE", "EWR-IAH", "LGA-ATL", "XXX-YYY"],
}
SERVICE = "delay_model_v1"


@dataclass
class Online:
    """One materialized copy of the flights repo: its settings and a client of its Redis."""

    settings: Settings
    url: str
    client: RedisClient

    def keys(self) -> set[bytes]:
        return {key for node in primaries(self.client) for key in node.scan_iter(count=1000)}

    def ours(self, entities: dict[str, list[Any]] = ENTITIES) -> dict[str, list[Any]]:
        store = open_store(self.settings, self.url)
        return OnlineClient(store, self.client).get(SERVICE, entities).to_dict()

    def feasts(self) -> dict[str, list[Any]]:
        store = open_store(self.settings, self.url)
        columns = zip(*ENTITIES.values(), strict=True)
        rows = [dict(zip(ENTITIES, values, strict=True)) for values in columns]
        return store.get_online_features(
            features=store.get_feature_service(SERVICE), entity_rows=rows
        ).to_dict()


def flush(client: RedisClient) -> None:
    for node in primaries(client):
        node.flushdb()


def materialized_copy(flights_data_dir: Path, data_dir: Path, url: str) -> Online:
    """The applied flights registry in its own data dir, materialized into `url`."""
    data_dir.mkdir()
    shutil.copy(flights_data_dir / "registry.db", data_dir / "registry.db")
    settings = load_settings(data_dir=data_dir, redis_url=url)
    client = connect(url)
    flush(client)
    materialize(open_store(settings, url), client, START, END)
    return Online(settings, url, client)


@pytest.fixture(scope="module")
def pair(
    flights_data_dir: Path,
    redis_url: str,
    redis_cluster: EmbeddedRedisCluster,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Online, Online]]:
    """The flights repo materialized by us into one node (database 6) and into the cluster."""
    work = tmp_path_factory.mktemp("cluster")
    single_url = redis_url.rsplit("/", 1)[0] + "/6"
    single = materialized_copy(flights_data_dir, work / "single", single_url)
    cluster = materialized_copy(flights_data_dir, work / "cluster", redis_cluster.url)
    yield single, cluster
    flush(single.client)
    single.client.close()
    cluster.client.close()


def test_the_cluster_holds_feasts_keys_byte_for_byte_spread_over_every_master(
    pair: tuple[Online, Online],
) -> None:
    single, cluster = pair

    keys = cluster.keys()

    assert keys == single.keys() and len(keys) > 1000
    per_master = [node.dbsize() for node in primaries(cluster.client)]
    assert len(per_master) == 3 and min(per_master) > len(keys) / 5


def test_feast_our_client_and_http_read_the_cluster_as_one_node(
    pair: tuple[Online, Online],
) -> None:
    single, cluster = pair
    body = {"feature_service": SERVICE, "entities": ENTITIES}

    answers = [
        TestClient(create_app(online.settings, online.url)).post("/online/features", json=body)
        for online in (single, cluster)
    ]

    assert cluster.feasts() == single.feasts()
    assert cluster.ours() == single.ours()
    assert cluster.ours()["temp"][:3] == cluster.feasts()["temp"][:3]
    assert [answer.status_code for answer in answers] == [200, 200]
    assert answers[0].json() == answers[1].json()


def test_what_feast_writes_to_the_cluster_we_read(pair: tuple[Online, Online]) -> None:
    _, cluster = pair
    store = open_store(cluster.settings, cluster.url)
    assert store.config.online_store.redis_type == "redis_cluster"
    view = store.get_feature_view("weather_hourly")
    entities = {"origin": ENTITIES["origin"]}
    ours_before = OnlineClient(store, cluster.client).get(["weather_hourly:temp"], entities)

    for node in primaries(cluster.client):  # only what Feast writes now remains
        for key in node.scan_iter(count=1000):
            node.hdel(key, b"_ts:weather_hourly")
    with contextlib.redirect_stdout(io.StringIO()):  # Feast prints progress
        store.materialize(start_date=START, end_date=END, feature_views=[view.name])
    ours_after = OnlineClient(store, cluster.client).get(["weather_hourly:temp"], entities)

    assert ours_after.to_dict() == ours_before.to_dict()
    assert ours_after.event_timestamps == ours_before.event_timestamps
    feasts = store.get_online_features(
        features=["weather_hourly:temp"], entity_rows=[{"origin": o} for o in ENTITIES["origin"]]
    )
    assert ours_after.to_dict()["temp"] == feasts.to_dict()["temp"]


def test_freshness_samples_every_master(pair: tuple[Online, Online]) -> None:
    single, cluster = pair

    fresh = [
        online_freshness(o.client, "flights", "plane_attributes", ["tailnum"], None, now=NOW)
        for o in (single, cluster)
    ]

    assert fresh[0].sampled_keys == fresh[1].sampled_keys == 500
    assert fresh[1].error is None and fresh[1].with_value == 500
    assert fresh[1].latest == fresh[0].latest


def migrate_slots(cluster: EmbeddedRedisCluster, slots: set[int], source: int, target: int) -> int:
    """Move `slots` from one master to another the way `redis-cli --cluster reshard` does:
    IMPORTING/MIGRATING, then MIGRATE key by key, then the new owner. Returns keys moved."""
    src, dst = connect(cluster.node_url(source)), connect(cluster.node_url(target))
    src_id, dst_id = src.execute_command("CLUSTER MYID"), dst.execute_command("CLUSTER MYID")
    node = cluster.nodes[target]
    moved = 0
    try:
        for slot in sorted(slots):
            dst.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", src_id)
            src.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", dst_id)
            while keys := src.execute_command("CLUSTER GETKEYSINSLOT", slot, 1):
                src.execute_command("MIGRATE", node.host, node.port, "", 0, 5000, "KEYS", *keys)
                moved += len(keys)
            for client in (dst, src):
                client.execute_command("CLUSTER SETSLOT", slot, "NODE", dst_id)
    finally:
        src.close()
        dst.close()
    return moved


def planes(flights_data_dir: Path, limit: int) -> pa.Table:
    path = flights_data_dir / "sources" / "planes.parquet"
    with duckdb.connect() as con:
        return con.sql(f"SELECT * FROM '{path}' ORDER BY tailnum LIMIT {limit}").to_arrow_table()


def slots_on(cluster: RedisClient, keys: list[bytes], master: int) -> tuple[set[int], int]:
    """The slots of `keys` that the `master`-th primary owns, and its index in the fixture."""
    assert isinstance(cluster, RedisCluster)
    node = cluster.get_primaries()[master]
    owner = cluster.nodes_manager.get_node_from_slot
    return {slot_of(k) for k in keys if owner(slot_of(k)).name == node.name}, node.port


def counting_redirections(client: RedisClient) -> list[object]:
    """Commands redis-py sent after our pipeline got a MOVED/ASK/TRYAGAIN (appended to)."""
    followed: list[object] = []
    execute = client.execute_command

    def follow(*args: Any, **options: Any) -> Any:
        followed.append(args[0])
        return execute(*args, **options)

    client.execute_command = follow  # type: ignore[method-assign]
    return followed


def reshard_while(
    redis_cluster: EmbeddedRedisCluster, slots: set[int], port: int, work: Callable[[], None]
) -> tuple[int, list[BaseException], int]:
    """Run `work` in a loop while `slots` move from the master on `port` to the next one;
    the keys moved, the errors `work` raised and how many times it ran."""
    source = next(i for i, node in enumerate(redis_cluster.nodes) if node.port == port)
    errors: list[BaseException] = []
    runs = 0
    done = threading.Event()

    def loop() -> None:
        nonlocal runs
        while not done.is_set():
            try:
                work()
                runs += 1
            except BaseException as exc:
                errors.append(exc)

    thread = threading.Thread(target=loop)
    thread.start()
    try:
        moved = migrate_slots(redis_cluster, slots, source, (source + 1) % 3)
    finally:
        done.set()
        thread.join()
    return moved, errors, runs


def test_a_resharding_during_reads_reaches_no_client(
    pair: tuple[Online, Online], flights_data_dir: Path, redis_cluster: EmbeddedRedisCluster
) -> None:
    _, cluster = pair
    entities = {"tailnum": planes(flights_data_dir, 200).column("tailnum").to_pylist()}
    client = connect(cluster.url)
    reader = OnlineClient(open_store(cluster.settings, cluster.url), client)
    features = ["plane_attributes:seats", "plane_attributes:year_built"]
    expected = reader.get(features, entities).to_dict()
    view = reader.plan(features).views[0]
    keys = [view.redis_key([t]) for t in entities["tailnum"]]
    slots, port = slots_on(client, keys, 0)
    followed = counting_redirections(client)
    answers: list[dict[str, list[Any]]] = []

    moved, errors, _ = reshard_while(
        redis_cluster, slots, port, lambda: answers.append(reader.get(features, entities).to_dict())
    )

    assert moved >= len(slots) > 10
    assert errors == []
    assert followed and set(followed) == {"HMGET"}  # redirections happened and were followed
    assert len(answers) > 1 and all(answer == expected for answer in answers)
    assert reader.get(features, entities).to_dict() == expected


def test_a_resharding_during_writes_loses_nothing(
    pair: tuple[Online, Online], flights_data_dir: Path, redis_cluster: EmbeddedRedisCluster
) -> None:
    _, cluster = pair
    table = planes(flights_data_dir, 300).slice(200)  # other keys than the read test's
    client = connect(cluster.url)
    store = open_store(cluster.settings, cluster.url)
    view = store.get_feature_view("plane_attributes")
    writer = OnlineWriter(client, store.project, batch_rows=7)
    reader = OnlineClient(store, client)
    entities = {"tailnum": table.column("tailnum").to_pylist()}
    plan = reader.plan(["plane_attributes:seats"])
    keys = [plan.views[0].redis_key([t]) for t in entities["tailnum"]]
    slots, port = slots_on(client, keys, 1)
    followed = counting_redirections(client)
    seats = pa.array([1000 + i for i in range(table.num_rows)], pa.int64())
    written = table.set_column(table.schema.get_field_index("seats"), "seats", seats)
    moments: list[datetime] = []

    def write() -> None:
        moment = NOW + timedelta(seconds=len(moments))
        stamp = pa.array([moment] * table.num_rows, pa.timestamp("us", tz="UTC"))
        rows = written.set_column(
            written.schema.get_field_index("event_timestamp"), "event_timestamp", stamp
        )
        assert writer.write(view, rows).written == table.num_rows
        moments.append(moment)

    moved, errors, runs = reshard_while(redis_cluster, slots, port, write)
    # What the writes followed; the read below may follow a redirection of its own (HMGET).
    followed_by_writes = list(followed)

    answer = reader.get(["plane_attributes:seats"], entities, now=NOW)
    assert moved >= len(slots) > 10
    assert errors == [] and runs > 1
    # Batches of moving slots were redirected, and sent again as scripts.
    assert followed_by_writes and set(followed_by_writes) == {"EVAL"}
    assert answer.values["seats"] == seats.to_pylist()
    assert set(answer.event_timestamps["seats"]) == {moments[-1]}


def test_a_failover_is_a_transient_error_then_reads_and_writes_go_on(
    pair: tuple[Online, Online], flights_data_dir: Path
) -> None:
    """A master stops; its replica takes over (node timeout 2 s). Meanwhile every failure is a
    ServiceError (what the stream consumer retries before committing); afterwards the same
    client reads what was written and writes again."""
    _, flights = pair
    store = open_store(flights.settings, flights.url)
    view = store.get_feature_view("plane_attributes")
    table = planes(flights_data_dir, 300)
    entities = {"tailnum": table.column("tailnum").to_pylist()}
    with EmbeddedRedisCluster(masters=3, replicas=1) as cluster:
        client = connect(cluster.url)
        writer = OnlineWriter(client, store.project)
        reader = OnlineClient(store, client)
        writer.write(view, table)
        expected = reader.get(["plane_attributes:seats"], entities).to_dict()

        cluster.nodes[0].stop()
        failures: list[Exception] = []
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = reader.get(["plane_attributes:seats"], entities).to_dict()
                writer.write(view, table)
                break
            except ServiceError as exc:
                failures.append(exc)
                assert time.monotonic() < deadline, failures[-1]
                time.sleep(0.2)

    assert failures  # the stopped master was noticed, as a transient error
    assert answer == expected
