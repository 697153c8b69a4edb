"""Embedded Redis and broker: real processes that start, answer, stop and never leak."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest
import redis
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from featurestore.errors import MissingBinaryError, ServiceError
from featurestore.services import EmbeddedBroker, EmbeddedRedis, Services
from featurestore.services import broker as broker_module
from featurestore.services import redis as redis_module
from featurestore.settings import Settings

pytestmark = pytest.mark.integration

ORPHAN_SCRIPT = """
import sys, time
from featurestore.services import EmbeddedRedis
server = EmbeddedRedis().start()
print(server.pid, flush=True)
time.sleep(60)
"""


def is_alive(pid: int) -> bool:
    """True while `pid` runs; a zombie waiting for its reaper counts as gone."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_gone(pid: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while is_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_redis_set_get_then_stop_leaves_no_process() -> None:
    with EmbeddedRedis() as server:
        pid = server.pid
        client = redis.Redis.from_url(server.url)
        client.set("flight:1", "JFK")
        value = client.get("flight:1")
        client.close()

    assert (server.url, value) == (f"redis://127.0.0.1:{server.port}/0", b"JFK")
    assert pid is not None and not is_alive(pid)
    server.stop()  # idempotent


def test_broker_round_trips_one_message() -> None:
    topic = f"flights-{uuid.uuid4().hex[:8]}"
    with EmbeddedBroker() as broker:
        servers = broker.bootstrap_servers
        admin = KafkaAdminClient(bootstrap_servers=servers)
        admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
        admin.close()
        producer = KafkaProducer(bootstrap_servers=servers)
        producer.send(topic, key=b"N14228", value=b"EWR->IAH").get(timeout=5)
        producer.close()
        consumer = KafkaConsumer(
            topic,
            bootstrap_servers=servers,
            group_id="test-round-trip",
            auto_offset_reset="earliest",
            session_timeout_ms=6000,
            heartbeat_interval_ms=1000,
        )
        records: list[tuple[bytes, bytes]] = []
        deadline = time.monotonic() + 20
        while not records and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=1000).values():
                records.extend((record.key, record.value) for record in batch)
        consumer.close()
        pid = broker.pid

    assert records == [(b"N14228", b"EWR->IAH")]
    assert pid is not None and not is_alive(pid)


@pytest.mark.parametrize(
    ("module", "server_class", "binary"),
    [(redis_module, EmbeddedRedis, "redis-server"), (broker_module, EmbeddedBroker, "tansu")],
)
def test_missing_binary_names_it(
    monkeypatch: pytest.MonkeyPatch, module: object, server_class: type, binary: str
) -> None:
    monkeypatch.setattr(module, "find_binary", lambda name, package: None)

    with pytest.raises(MissingBinaryError) as caught:
        server_class().start()

    assert caught.value.binary == binary
    assert f"`{binary}`" in str(caught.value)
    assert "featurestore[embedded]" in str(caught.value)


def test_port_in_use_raises_service_error() -> None:
    with EmbeddedRedis() as first, pytest.raises(ServiceError) as caught:
        EmbeddedRedis(port=first.port).start()

    assert f"Port `{first.port}`" in str(caught.value)


def test_sigkill_of_caller_leaves_no_orphan(tmp_path: Path) -> None:
    # The killed caller cannot clean up, so its scratch folder goes under tmp_path.
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    caller = subprocess.Popen(
        [sys.executable, "-c", ORPHAN_SCRIPT], stdout=subprocess.PIPE, text=True, env=env
    )
    assert caller.stdout is not None
    redis_pid = int(caller.stdout.readline())
    assert is_alive(redis_pid)

    caller.send_signal(signal.SIGKILL)
    caller.wait()

    assert wait_gone(redis_pid)


def test_services_with_redis_url_set_starts_nothing() -> None:
    settings = Settings(redis_url="redis://redis.example:6379/0", kafka_bootstrap_servers=None)
    children_before = {child.pid for child in psutil.Process().children()}

    with Services.from_settings(settings, need_redis=True, need_kafka=False) as services:
        children = {child.pid for child in psutil.Process().children()}

    assert (services.redis_url, services.kafka_bootstrap_servers) == (
        "redis://redis.example:6379/0",
        None,
    )
    assert children == children_before


def test_services_starts_and_stops_what_settings_leave_unset() -> None:
    settings = Settings(redis_url=None, kafka_bootstrap_servers=None)

    with Services.from_settings(settings, need_redis=True, need_kafka=True) as services:
        assert services.embedded_redis is not None and services.embedded_broker is not None
        pids = [services.embedded_redis.pid, services.embedded_broker.pid]
        redis.Redis.from_url(services.redis_url).ping()
        bootstrap = services.kafka_bootstrap_servers

    assert bootstrap == services.embedded_broker.bootstrap_servers
    assert [pid is not None and is_alive(pid) for pid in pids] == [False, False]
