"""The consumer loop: poll → decode/validate → tasks (window state, repartitioning) → Redis,
offline log → commit. One poll loop serves every task; each keeps its own checkpoints."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import pyarrow as pa
from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata

from featurestore.aggregations import Row
from featurestore.errors import TransientError
from featurestore.kafka import kafka_errors
from featurestore.online.writer import OnlineWriter
from streaming.config import StreamOptions
from streaming.decode import EventDecoder, Rejected
from streaming.metrics import StreamMetrics
from streaming.offline_log import rows_table
from streaming.tasks import Decoded, RepartitionTask, ViewTask

logger = logging.getLogger(__name__)
T = TypeVar("T")
Task = ViewTask | RepartitionTask


@dataclass
class RunStats:
    """What a run did, for the CLI and tests."""

    consumed: int = 0
    written: int = 0
    dead_lettered: int = 0
    checkpoints: int = 0
    forwarded: int = 0


class StreamConsumer:
    """Keeps stream feature views fresh in Redis and their offline logs, from their topics."""

    def __init__(
        self,
        tasks: Sequence[Task],
        *,
        consumer: KafkaConsumer,
        producer: KafkaProducer,
        writer: OnlineWriter,
        options: StreamOptions,
        dead_letter_topics: dict[str, str],
        metrics: StreamMetrics | None = None,
    ) -> None:
        self.tasks = list(tasks)
        self.views = [task for task in self.tasks if isinstance(task, ViewTask)]
        self._by_topic: dict[str, list[Task]] = defaultdict(list)
        for task in self.tasks:
            self._by_topic[task.topic].append(task)
        self._repartitions = [task for task in self.tasks if isinstance(task, RepartitionTask)]
        self._dlq = dead_letter_topics
        self._consumer, self._producer, self._writer = consumer, producer, writer
        self.options = options
        self.metrics = metrics or StreamMetrics()
        self.stats = RunStats()
        self._positions: dict[TopicPartition, int] = {}
        self._produced: dict[TopicPartition, int] = {}
        self._sent: list[Any] = []
        self._stop = threading.Event()
        self._last_checkpoint = time.monotonic()

    @property
    def topics(self) -> list[str]:
        return sorted(self._by_topic)

    @property
    def assigned_partitions(self) -> list[int]:
        """The source-topic partitions this consumer owns now."""
        internal = {task.internal for task in self._repartitions}
        return sorted({tp.partition for tp in self._positions if tp.topic not in internal})

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
        with kafka_errors(f"subscribe to {', '.join(self.topics)}", servers):
            self._consumer.subscribe(self.topics, listener=_Listener(self))
        idle_polls = 0
        while not self._stop.is_set():
            batch = self._retry(self._poll, "poll")
            if batch:
                idle_polls = 0
                self._process(batch)
            else:
                idle_polls += 1
            if self._release():
                idle_polls = 0
            self._update_lag()
            due = time.monotonic() - self._last_checkpoint >= self.options.checkpoint_seconds
            if due or not batch:
                self._checkpoint()
            if self.options.stop_when_caught_up and idle_polls and self._caught_up():
                break
        self._checkpoint()
        return self.stats

    def _poll(self) -> dict[TopicPartition, list[Any]]:
        with kafka_errors("poll", self.options.bootstrap_servers):
            batch: dict[TopicPartition, list[Any]] = self._consumer.poll(
                timeout_ms=int(self.options.poll_timeout_seconds * 1000),
                max_records=self.options.max_poll_records,
            )
        return batch

    def _process(self, batch: dict[TopicPartition, list[Any]]) -> None:
        results: dict[int, list[Row]] = defaultdict(list)
        for tp, records in batch.items():
            if tp not in self._positions:  # revoked while the batch was in flight
                continue
            tasks = self._by_topic.get(tp.topic, [])
            decoded: dict[int, list[Decoded]] = {}
            for task in tasks:
                if id(task.decoder) not in decoded:
                    decoded[id(task.decoder)] = self._decode(tp, records, task.decoder, tasks)
            for task in tasks:
                result = task.handle(self, tp.partition, records, decoded[id(task.decoder)])
                if isinstance(task, ViewTask):
                    results[id(task)].extend(result.current)
                    self.metrics.observe_written(
                        tp.topic, result.accepted_times, result.append_times
                    )
                    self.stats.written += len(result.accepted_times)
            self.stats.consumed += len(records)
            self.metrics.consumed.labels(tp.topic).inc(len(records))
            self._positions[tp] = records[-1].offset + 1
        for task in self.views:
            current = results.get(id(task))
            if current:
                self._write(task, rows_table(task.spec, current))

    def _write(self, task: ViewTask, table: pa.Table) -> None:
        self._retry(lambda: self._writer.write(task.view, table), "write Redis")

    def _decode(
        self,
        tp: TopicPartition,
        records: Sequence[Any],
        decoder: EventDecoder,
        tasks: Sequence[Task],
    ) -> list[Decoded]:
        """Each record decoded once per source schema; a bad one is dead-lettered once."""
        users = [task for task in tasks if task.decoder is decoder]
        events: list[Decoded] = []
        for record in records:
            try:
                events.append(decoder.decode(record.value))
            except Rejected as rejected:
                events.append(rejected)
                if any(task.wants(tp.partition, record.offset) for task in users):
                    self.dead_letter(record, rejected.reason)
        return events

    def _release(self) -> int:
        """Forward what watermark alignment allows from each repartitioned topic."""
        forwarded = 0
        for task in self._repartitions:
            idle = [
                tp.partition
                for tp, position in self._positions.items()
                if tp.topic == task.topic
                and (highwater := self._consumer.highwater(tp)) is not None
                and position >= highwater
            ]
            forwarded += task.release(self, idle)
        self.stats.forwarded += forwarded
        return forwarded

    def forward(
        self,
        topic: str,
        key: bytes,
        value: bytes,
        headers: list[tuple[str, bytes]],
        timestamp_ms: int | None,
    ) -> None:
        def send() -> None:
            with kafka_errors(f"forward to {topic}", self.options.bootstrap_servers):
                future = self._producer.send(
                    topic, key=key, value=value, headers=headers, timestamp_ms=timestamp_ms
                )
            self._sent.append(future)

        self._retry(send, f"forward to {topic}")

    def dead_letter(self, record: Any, reason: str, view: str | None = None) -> None:
        headers = [
            ("reason", reason.encode()),
            ("source.topic", record.topic.encode()),
            ("source.partition", str(record.partition).encode()),
            ("source.offset", str(record.offset).encode()),
        ]
        if view is not None:
            headers.append(("view", view.encode()))
        dlq = self._dlq.get(record.topic, f"{record.topic}.dlq")

        def send() -> None:
            with kafka_errors(f"dead-letter to {dlq}", self.options.bootstrap_servers):
                self._producer.send(dlq, key=record.key, value=record.value or b"", headers=headers)

        self._retry(send, f"dead-letter to {dlq}")
        self.stats.dead_lettered += 1
        self.metrics.dead_lettered.labels(record.topic, reason.split(" ", 1)[0]).inc()
        logger.info(
            "Dead-lettered %s:%d@%d: %s", record.topic, record.partition, record.offset, reason
        )

    def _checkpoint(
        self, partitions: Iterable[TopicPartition] | None = None, *, commit: bool = True
    ) -> None:
        """Flush forwards and dead letters, checkpoint every task, then commit offsets."""
        self._last_checkpoint = time.monotonic()
        chosen = list(self._positions if partitions is None else partitions)
        if not chosen:
            return
        self._retry(self._flush, "flush the producer")
        committed: dict[TopicPartition, list[int]] = defaultdict(list)
        by_topic: dict[str, list[int]] = defaultdict(list)
        for tp in chosen:
            by_topic[tp.topic].append(tp.partition)
        for topic, numbers in by_topic.items():
            for task in self._by_topic.get(topic, []):
                for number, offset in task.checkpoint(numbers).items():
                    committed[TopicPartition(topic, number)].append(offset)
        self.stats.checkpoints += 1
        offsets = {
            tp: OffsetAndMetadata(min(values), "", -1)
            for tp, values in committed.items()
            if len(values) == len(self._by_topic[tp.topic])
        }
        if not commit or not offsets:
            return
        try:
            self._consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            # The checkpoints are the source of truth; Kafka's offsets only mirror them.
            logger.warning("Committing offsets to Kafka failed (%s); checkpoints hold them", exc)

    def _flush(self) -> None:
        with kafka_errors("flush the producer", self.options.bootstrap_servers):
            self._producer.flush(timeout=30)
        sent, self._sent = self._sent, []
        for future in sent:
            if future.failed():
                # Re-forwarding resumes from the checkpoint, which this flush never passed.
                raise TransientError(f"forwarding an event failed: {future.exception}")
            metadata = future.value
            tp = TopicPartition(metadata.topic, metadata.partition)
            self._produced[tp] = max(self._produced.get(tp, 0), metadata.offset + 1)

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
            tasks = self._by_topic.get(tp.topic)
            if not tasks:
                continue
            resumes = [task.assign(tp.partition) for task in tasks]
            if any(resume is None for resume in resumes):
                self._consumer.seek_to_beginning(tp)
                position = 0
            else:
                position = min(resume for resume in resumes if resume is not None)
                self._consumer.seek(tp, position)
            self._positions[tp] = position
            logger.info("Assigned %s:%d from offset %s", tp.topic, tp.partition, position)

    def _revoked(self, tps: Sequence[TopicPartition]) -> None:
        mine = [tp for tp in tps if tp in self._positions]
        # kafka-python runs listeners on its IO thread, where a blocking commit is refused; the
        # checkpoints hold the offsets, and the next owner commits them to Kafka.
        self._checkpoint(mine, commit=False)
        for tp in mine:
            for task in self._by_topic.get(tp.topic, []):
                task.revoke(tp.partition)
            self._positions.pop(tp, None)
            with contextlib.suppress(KeyError), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a multi-process warning Feast's env triggers
                self.metrics.lag.remove(tp.topic, str(tp.partition))

    def _lags(self) -> dict[TopicPartition, int | None]:
        lags: dict[TopicPartition, int | None] = {}
        for tp, position in self._positions.items():
            highwater = self._consumer.highwater(tp)
            if highwater is None:
                lags[tp] = None
            else:
                lags[tp] = max(highwater, self._produced.get(tp, 0)) - position
        return lags

    def _update_lag(self) -> None:
        for tp, lag in self._lags().items():
            if lag is not None:
                self.metrics.lag.labels(tp.topic, str(tp.partition)).set(max(lag, 0))

    def _caught_up(self) -> bool:
        lags = self._lags()
        if any(task.buffer.pending for task in self._repartitions):
            return False
        return bool(lags) and all(lag is not None and lag <= 0 for lag in lags.values())


class _Listener(ConsumerRebalanceListener):
    """Checkpoints partitions before they go and restores their state when they come."""

    def __init__(self, owner: StreamConsumer) -> None:
        self._owner = owner

    def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        self._owner._revoked(revoked)

    def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        self._owner._assigned(assigned)
