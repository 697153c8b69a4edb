"""The consumer loop: poll → decode/validate → window state → Redis, offline log → commit."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from feast import FeatureView
from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata

from featurestore.aggregations import Row, WindowSpec, WindowState
from featurestore.errors import TransientError
from featurestore.kafka import kafka_errors
from featurestore.online.writer import OnlineWriter
from streaming.config import StreamOptions
from streaming.decode import EventDecoder, Rejected
from streaming.metrics import StreamMetrics
from streaming.offline_log import Checkpoint, OfflineLog, rows_table

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class _Partition:
    """One assigned partition: its window state and what is not yet checkpointed."""

    state: WindowState
    next_offset: int | None = None
    first_unlogged: int | None = None
    rows: list[Row] = field(default_factory=list)


@dataclass
class RunStats:
    """What a run did, for the CLI and tests."""

    consumed: int = 0
    written: int = 0
    dead_lettered: int = 0
    checkpoints: int = 0


class StreamConsumer:
    """Keeps one stream feature view fresh in Redis and its offline log from one topic."""

    def __init__(
        self,
        spec: WindowSpec,
        view: FeatureView,
        topic: str,
        decoder: EventDecoder,
        *,
        consumer: KafkaConsumer,
        producer: KafkaProducer,
        writer: OnlineWriter,
        log: OfflineLog,
        options: StreamOptions,
        metrics: StreamMetrics | None = None,
    ) -> None:
        self.spec, self.view, self.topic, self.decoder = spec, view, topic, decoder
        self.dlq_topic = f"{topic}.dlq"
        self._consumer, self._producer, self._writer, self._log = consumer, producer, writer, log
        self.options = options
        self.metrics = metrics or StreamMetrics()
        self.stats = RunStats()
        self._partitions: dict[int, _Partition] = {}
        self._stop = threading.Event()
        self._last_checkpoint = time.monotonic()

    @property
    def assigned_partitions(self) -> list[int]:
        """The partitions of the topic this consumer owns now."""
        return list(self._partitions)

    def close(self) -> None:
        """Leave the group without committing more, and close the Kafka clients."""
        with contextlib.suppress(KafkaError):
            self._consumer.close(autocommit=False)
        with contextlib.suppress(KafkaError):
            self._producer.close()

    def stop(self) -> None:
        """Ask the loop to finish its batch, checkpoint, commit and return (e.g. on SIGTERM)."""
        self._stop.set()

    def run(self) -> RunStats:
        """Consume until `stop()`, or until caught up when the options say so."""
        servers = self.options.bootstrap_servers
        with kafka_errors(f"subscribe to {self.topic}", servers):
            self._consumer.subscribe([self.topic], listener=_Listener(self))
        idle_polls = 0
        while not self._stop.is_set():
            batch = self._retry(self._poll, f"poll {self.topic}")
            if batch:
                idle_polls = 0
                self._process(batch)
            else:
                idle_polls += 1
            self._update_lag()
            due = time.monotonic() - self._last_checkpoint >= self.options.checkpoint_seconds
            if due or not batch:
                self._checkpoint()
            if self.options.stop_when_caught_up and idle_polls and self._caught_up():
                break
        self._checkpoint()
        return self.stats

    def _poll(self) -> dict[TopicPartition, list[Any]]:
        with kafka_errors(f"poll {self.topic}", self.options.bootstrap_servers):
            batch: dict[TopicPartition, list[Any]] = self._consumer.poll(
                timeout_ms=int(self.options.poll_timeout_seconds * 1000),
                max_records=self.options.max_poll_records,
            )
        return batch

    def _process(self, batch: dict[TopicPartition, list[Any]]) -> None:
        spec, decoder = self.spec, self.decoder
        key_field, time_field = spec.key, spec.timestamp_field
        current: list[Row] = []
        accepted_times: list[int] = []
        append_times: list[int] = []
        for tp, records in batch.items():
            partition = self._partitions.get(tp.partition)
            if partition is None:  # revoked while the batch was in flight
                continue
            state = partition.state
            for record in records:
                try:
                    event = decoder.decode(record.value)
                    key = event[key_field]
                    if record.key is not None and record.key != str(key).encode():
                        raise Rejected(
                            f"message key `{record.key!r}` differs from field `{key_field}` = "
                            f"`{key}`; publish events keyed by `{key_field}`"
                        )
                    at = cast(int, event[time_field])  # the decoder made it µs
                    late = state.add(str(key), at, record.offset, spec.input_values(event))
                    if late is not None:
                        raise Rejected(
                            f"event time {_iso(at)} is more than the allowed lateness "
                            f"{spec.allowed_lateness} behind `{key}`'s latest event {_iso(late)}"
                        )
                except Rejected as rejected:
                    self._dead_letter(record, rejected.reason)
                    continue
                accepted_times.append(at)
                append_times.append(record.timestamp)
            self.stats.consumed += len(records)
            self.metrics.consumed.labels(self.topic).inc(len(records))
            if partition.first_unlogged is None:
                partition.first_unlogged = records[0].offset
            partition.next_offset = records[-1].offset + 1
            final, now = state.advance()
            partition.rows.extend(final)
            current.extend(now)
        if current:
            table = rows_table(spec, current)
            self._retry(lambda: self._writer.write(self.view, table), "write Redis")
        self.metrics.observe_written(self.topic, accepted_times, append_times)
        self.stats.written += len(accepted_times)

    def _dead_letter(self, record: Any, reason: str) -> None:
        headers = [
            ("reason", reason.encode()),
            ("source.topic", record.topic.encode()),
            ("source.partition", str(record.partition).encode()),
            ("source.offset", str(record.offset).encode()),
        ]

        def send() -> None:
            with kafka_errors(f"dead-letter to {self.dlq_topic}", self.options.bootstrap_servers):
                self._producer.send(
                    self.dlq_topic, key=record.key, value=record.value or b"", headers=headers
                )

        self._retry(send, f"dead-letter to {self.dlq_topic}")
        self.stats.dead_lettered += 1
        self.metrics.dead_lettered.labels(self.topic, reason.split(" ", 1)[0]).inc()
        logger.info(
            "Dead-lettered %s:%d@%d: %s", record.topic, record.partition, record.offset, reason
        )

    def _checkpoint(self, partitions: Iterable[int] | None = None, *, commit: bool = True) -> None:
        """Flush dead letters, append final rows, replace checkpoints, then commit offsets."""
        self._last_checkpoint = time.monotonic()
        chosen = self._partitions if partitions is None else partitions
        dirty = {
            number: self._partitions[number]
            for number in chosen
            if number in self._partitions and self._partitions[number].first_unlogged is not None
        }
        if not dirty:
            return
        self._retry(self._flush_dead_letters, f"flush dead letters to {self.dlq_topic}")
        offsets = {}
        for number, partition in dirty.items():
            assert partition.first_unlogged is not None and partition.next_offset is not None
            if partition.rows:
                self._log.append(
                    self.topic,
                    number,
                    partition.first_unlogged,
                    partition.next_offset - 1,
                    partition.rows,
                )
            snapshot = Checkpoint(partition.next_offset, partition.state.snapshot())
            self._log.commit(self.topic, number, snapshot)
            partition.rows, partition.first_unlogged = [], None
            tp = TopicPartition(self.topic, number)
            offsets[tp] = OffsetAndMetadata(partition.next_offset, "", -1)
        self.stats.checkpoints += 1
        if not commit:
            return
        try:
            self._consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            # The checkpoints are the source of truth; Kafka's offsets only mirror them.
            logger.warning("Committing offsets to Kafka failed (%s); checkpoints hold them", exc)

    def _flush_dead_letters(self) -> None:
        with kafka_errors(
            f"flush dead letters to {self.dlq_topic}", self.options.bootstrap_servers
        ):
            self._producer.flush(timeout=30)

    def _retry(self, action: Callable[[], T], what: str) -> T:
        """Run `action`, retrying transient failures with capped exponential backoff."""
        delay = self.options.retry_initial_seconds
        gave_up_at = None
        while True:
            try:
                return action()
            except TransientError as exc:
                if self._stop.is_set():
                    gave_up_at = gave_up_at or time.monotonic() + self.options.stop_grace_seconds
                    if time.monotonic() > gave_up_at:
                        raise
                logger.warning("Cannot %s yet (%s); retrying in %.1f s", what, exc, delay)
                self.metrics.retries.labels(what.split(" ", 1)[0]).inc()
                time.sleep(delay)
                delay = min(delay * 2, self.options.retry_max_seconds)

    def _assigned(self, tps: Sequence[TopicPartition]) -> None:
        for tp in tps:
            if tp.topic != self.topic:
                continue
            partition = _Partition(WindowState(self.spec))
            checkpoint = self._log.recover(tp.topic, tp.partition)
            if checkpoint is None:
                self._consumer.seek_to_beginning(tp)
            else:
                partition.state.restore(checkpoint.state)
                partition.next_offset = checkpoint.next_offset
                self._consumer.seek(tp, checkpoint.next_offset)
            self._partitions[tp.partition] = partition
            logger.info(
                "Assigned %s:%d from offset %s", tp.topic, tp.partition, partition.next_offset
            )

    def _revoked(self, tps: Sequence[TopicPartition]) -> None:
        numbers = [tp.partition for tp in tps if tp.topic == self.topic]
        # kafka-python runs listeners on its IO thread, where a blocking commit is refused; the
        # checkpoints hold the offsets, and the next owner commits them to Kafka.
        self._checkpoint(numbers, commit=False)
        for number in numbers:
            self._partitions.pop(number, None)
            with contextlib.suppress(KeyError), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a multi-process warning Feast's env triggers
                self.metrics.lag.remove(self.topic, str(number))

    def _lags(self) -> dict[int, int | None]:
        lags: dict[int, int | None] = {}
        for number, partition in self._partitions.items():
            highwater = self._consumer.highwater(TopicPartition(self.topic, number))
            if highwater is None:
                lags[number] = None
            else:
                lags[number] = max(highwater - (partition.next_offset or 0), 0)
        return lags

    def _update_lag(self) -> None:
        for number, lag in self._lags().items():
            if lag is not None:
                self.metrics.lag.labels(self.topic, str(number)).set(lag)

    def _caught_up(self) -> bool:
        lags = self._lags()
        return bool(lags) and all(lag == 0 for lag in lags.values())


class _Listener(ConsumerRebalanceListener):
    """Checkpoints partitions before they go and restores their state when they come."""

    def __init__(self, owner: StreamConsumer) -> None:
        self._owner = owner

    def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        self._owner._revoked(revoked)

    def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        self._owner._assigned(assigned)


def _iso(at_us: int) -> str:
    seconds, micros = divmod(at_us, 1_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{stamp}.{micros:06d}Z" if micros else f"{stamp}Z"
