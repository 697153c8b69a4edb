"""kafka-python clients with settings that hold on Apache Kafka and on Tansu (see SERVICES.md)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from typing import Any, Final

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from featurestore.errors import TerminalError, TransientError

logger = logging.getLogger(__name__)

# Tansu joins a group in ~session_timeout/2 and stalls on short polls; Kafka is fine with these.
CONSUMER_DEFAULTS: Mapping[str, Any] = {
    "enable_auto_commit": False,
    "auto_offset_reset": "earliest",
    "session_timeout_ms": 6000,
    "heartbeat_interval_ms": 1000,
    "max_poll_interval_ms": 120_000,
    "max_poll_records": 5000,
    "fetch_max_bytes": 50 * 1024 * 1024,
    "max_partition_fetch_bytes": 8 * 1024 * 1024,
    # A caught-up fetch waits this long for data; it bounds the added event-to-online latency.
    "fetch_max_wait_ms": 100,
}
PRODUCER_DEFAULTS: Mapping[str, Any] = {
    "acks": "all",
    "linger_ms": 5,
    "batch_size": 256 * 1024,
    "retries": 5,
}


class KafkaUnavailableError(TransientError):
    """The Kafka cluster did not answer, or answered with a retriable error."""


class KafkaRejectedError(TerminalError):
    """Kafka refused a request in a way retrying cannot fix (unknown topic, authorization)."""


@contextlib.contextmanager
def kafka_errors(action: str, bootstrap_servers: str) -> Iterator[None]:
    """Translate kafka-python exceptions raised while doing `action`."""
    try:
        yield
    except KafkaError as exc:
        if exc.retriable:
            raise KafkaUnavailableError(
                f"Kafka at `{bootstrap_servers}` did not answer while trying to `{action}` "
                f"({exc}); check that it runs there and `kafka_bootstrap_servers` is right."
            ) from exc
        raise KafkaRejectedError(
            f"Kafka at `{bootstrap_servers}` refused to `{action}`: {exc}."
        ) from exc


def make_consumer(bootstrap_servers: str, group_id: str, **overrides: Any) -> KafkaConsumer:
    """A consumer in `group_id` with manual commits, starting from the earliest offset."""
    settings = {**CONSUMER_DEFAULTS, **overrides}
    with kafka_errors("connect a consumer", bootstrap_servers):
        return KafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=group_id, **settings)


def make_producer(bootstrap_servers: str, **overrides: Any) -> KafkaProducer:
    """A producer that waits for every replica; build a new one after a broker restart."""
    settings = {**PRODUCER_DEFAULTS, **overrides}
    with kafka_errors("connect a producer", bootstrap_servers):
        return KafkaProducer(bootstrap_servers=bootstrap_servers, **settings)


TOPIC_PARTITIONS: Final = 3
"""Partitions of each event topic featurestore creates (replay and the consumer agree on it)."""


def ensure_topics(bootstrap_servers: str, topics: Mapping[str, int]) -> None:
    """Create the missing topics (name → partitions); Tansu's auto-created topics are wrong."""
    with kafka_errors("create topics", bootstrap_servers):
        admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10_000)
        try:
            existing = set(admin.list_topics())
            missing = [
                NewTopic(name, partitions, 1)
                for name, partitions in topics.items()
                if name not in existing
            ]
            if missing:
                with contextlib.suppress(TopicAlreadyExistsError):  # created meanwhile
                    admin.create_topics(missing)
                logger.info("Created topics %s", [topic.name for topic in missing])
        finally:
            admin.close()
