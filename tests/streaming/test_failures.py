"""Bad events go to the dead-letter topic with their reason; a Redis outage delays commits but
loses nothing; two consumers in one group reach the same state as one."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from kafka import KafkaConsumer, TopicPartition

from featurestore.examples.flights.events import departure_events, encode_event, replay_flights
from featurestore.kafka import make_producer
from featurestore.services import EmbeddedRedis
from streaming.consumer import StreamConsumer
from streaming.service import build_consumer, run_consumer

if TYPE_CHECKING:
    from conftest import StreamEnv

pytestmark = pytest.mark.integration

EVENTS = 3_000


def final_backfill(stream_env: StreamEnv) -> list[dict]:
    lateness = stream_env.spec.allowed_lateness
    where = " OR ".join(
        f"(origin = '{o}' AND event_timestamp <= TIMESTAMPTZ '{(at - lateness).isoformat()}')"
        for o, (at, _) in stream_env.online_rows().items()
    )
    return stream_env.backfill_rows(where).to_pylist()


def expected_online(stream_env: StreamEnv, events: int) -> dict:
    last = {
        e["origin"]: e["event_timestamp"]
        for e in departure_events(stream_env.flights_path, limit=events)
    }
    rows = stream_env.backfill_rows().to_pylist()
    return {
        origin: (
            at,
            next(
                (r["departures_60m"], r["mean_dep_delay_60m"])
                for r in rows
                if r["origin"] == origin and r["event_timestamp"] == at
            ),
        )
        for origin, at in last.items()
    }


def dead_letters(stream_env: StreamEnv) -> list[tuple[bytes, dict[str, bytes]]]:
    consumer = KafkaConsumer(
        bootstrap_servers=stream_env.bootstrap_servers, auto_offset_reset="earliest",
        enable_auto_commit=False, consumer_timeout_ms=3000,
    )  # fmt: skip
    consumer.assign([TopicPartition(f"{stream_env.topic}.dlq", 0)])
    try:
        return [(record.value, dict(record.headers)) for record in consumer]
    finally:
        consumer.close()


def test_bad_events_are_dead_lettered_with_their_reason_and_the_rest_is_served(
    stream_env: StreamEnv,
) -> None:
    events = stream_env.whole_minutes(EVENTS)
    departures = departure_events(stream_env.flights_path, limit=events)
    last_jfk = max(e["event_timestamp"] for e in departures if e["origin"] == "JFK")
    good = {**departures[0], "origin": "JFK"}
    missing = {k: v for k, v in json.loads(encode_event(good)).items() if k != "flight_id"}
    bad = {
        b"{not json": "malformed JSON",
        json.dumps(missing).encode(): "missing field `flight_id`",
        encode_event({**good, "dep_delay": "late"}): "wrong type",
        encode_event({**good, "dep_delay": 99_999}): "above its max",
        encode_event({**good, "origin": "ORD"}): "not one of",
        encode_event({**good, "event_timestamp": last_jfk - timedelta(minutes=30)}): "lateness",
    }
    replay_flights(
        stream_env.flights_path, stream_env.bootstrap_servers, topic=stream_env.topic, limit=events
    )
    producer = make_producer(stream_env.bootstrap_servers)
    for value in bad:
        producer.send(stream_env.topic, key=b"JFK", value=value)
    producer.flush()
    producer.close()

    stats = stream_env.consume()
    letters = dead_letters(stream_env)

    assert (stats.consumed, stats.dead_lettered) == (events + len(bad), len(bad))
    assert [value for value, _ in letters] == list(bad)
    for (value, headers), why in zip(letters, bad.values(), strict=True):
        assert why in headers["reason"].decode(), (value, headers)
        assert headers["source.topic"].decode() == stream_env.topic
    assert stream_env.online_rows() == expected_online(stream_env, events)


def test_redis_outage_holds_commits_and_loses_nothing(
    stream_env: StreamEnv, caplog: pytest.LogCaptureFixture
) -> None:
    events = stream_env.whole_minutes(EVENTS)
    server = EmbeddedRedis()
    url = f"redis://{server.host}:{server.port}/0"
    replay_flights(
        stream_env.flights_path, stream_env.bootstrap_servers, topic=stream_env.topic, limit=events
    )
    consumer = build_consumer(stream_env.settings, url, stream_env.options(retry_max_seconds=0.5))
    thread = threading.Thread(
        target=run_consumer, args=(consumer,), kwargs={"handle_signals": False}
    )

    thread.start()  # Redis is not running yet
    deadline = time.monotonic() + 30
    while "Cannot write Redis yet" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(2)  # retrying meanwhile, past the 1 s checkpoint interval
    checkpoints_during_outage = list((stream_env.view_log_dir / "_checkpoints").glob("*.json"))
    committed = KafkaConsumer(
        bootstrap_servers=stream_env.bootstrap_servers, group_id=stream_env.options().group_id
    )
    offsets_during_outage = [
        committed.committed(TopicPartition(stream_env.topic, p)) for p in range(3)
    ]
    committed.close()
    with server:
        thread.join(timeout=60)
        online = stream_env.with_redis(url).online_rows()
        final_rows = final_backfill(stream_env.with_redis(url))

    assert "Cannot write Redis yet" in caplog.text
    assert (checkpoints_during_outage, offsets_during_outage) == ([], [None, None, None])
    assert not thread.is_alive() and consumer.stats.consumed == events
    assert online == expected_online(stream_env, events)
    assert stream_env.log.read().to_pylist() == final_rows


def test_two_consumers_in_one_group_split_partitions_and_agree_with_one(
    stream_env: StreamEnv,
) -> None:
    events = stream_env.whole_minutes(EVENTS)
    consumers = [
        build_consumer(
            stream_env.settings, stream_env.redis_url, stream_env.options(stop_when_caught_up=False)
        )
        for _ in range(2)
    ]
    errors: list[BaseException] = []

    def serve(consumer: StreamConsumer) -> None:
        try:
            run_consumer(consumer, handle_signals=False)
        except BaseException as exc:  # a consumer that dies would hide behind the other
            errors.append(exc)

    threads = [threading.Thread(target=serve, args=(consumer,)) for consumer in consumers]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while not all(c.assigned_partitions for c in consumers) and time.monotonic() < deadline:
        time.sleep(0.1)
    split = [sorted(c.assigned_partitions) for c in consumers]

    replay_flights(
        stream_env.flights_path, stream_env.bootstrap_servers, topic=stream_env.topic, limit=events
    )
    while sum(c.stats.consumed for c in consumers) < events and time.monotonic() < deadline + 30:
        time.sleep(0.2)
    for consumer in consumers:
        consumer.stop()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert sorted(p for partitions in split for p in partitions) == [0, 1, 2] and all(split)
    assert sum(c.stats.consumed for c in consumers) == events
    assert stream_env.online_rows() == expected_online(stream_env, events)
    assert stream_env.log.read().to_pylist() == final_backfill(stream_env)
