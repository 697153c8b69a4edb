"""The Kafka adapter: clients configured to work with Apache Kafka and Tansu, errors translated."""

from __future__ import annotations

from featurestore.kafka.clients import (
    TOPIC_PARTITIONS,
    KafkaRejectedError,
    KafkaUnavailableError,
    ensure_topics,
    kafka_errors,
    make_consumer,
    make_producer,
)

__all__ = [
    "TOPIC_PARTITIONS",
    "KafkaRejectedError",
    "KafkaUnavailableError",
    "ensure_topics",
    "kafka_errors",
    "make_consumer",
    "make_producer",
]
