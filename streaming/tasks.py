"""What the consumer does with one topic's records: fill a view's windows, or repartition them.

Each task keeps its own state and checkpoints per partition, so tasks sharing a topic (several
views on one topic, or a view and a repartitioner) resume independently: the consumer seeks to
the earliest resume offset and each task skips the records it has already applied.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from feast import FeatureView

from featurestore.aggregations import Row, WindowSpec, WindowState
from streaming.decode import EventDecoder, Rejected, Value
from streaming.offline_log import Checkpoint, OfflineLog
from streaming.repartition import (
    SOURCE_OFFSET,
    SOURCE_PARTITION,
    AlignedBuffer,
    RepartitionCheckpoints,
)

Decoded = dict[str, Value] | Rejected
"""A record's decoded event, or why it was rejected (dead-lettered once per topic)."""


class Host(Protocol):
    """What a task needs from the consumer running it."""

    def dead_letter(self, record: Any, reason: str, view: str | None = None) -> None: ...

    def forward(
        self,
        topic: str,
        key: bytes,
        value: bytes,
        headers: list[tuple[str, bytes]],
        timestamp_ms: int | None,
    ) -> None: ...


@dataclass
class _Partition:
    """One partition of a view's input topic: its window state and what is not checkpointed."""

    state: WindowState
    next_offset: int | None = None
    first_unlogged: int | None = None
    rows: list[Row] = field(default_factory=list)
    applied: dict[str, dict[str, int]] | None = None


@dataclass
class HandleResult:
    """A batch's effect on one view: its keys' current rows and accepted event times."""

    current: list[Row] = field(default_factory=list)
    accepted_times: list[int] = field(default_factory=list)
    append_times: list[int] = field(default_factory=list)


class ViewTask:
    """Keeps one stream view's windows from one topic (its source or its internal topic)."""

    def __init__(
        self,
        spec: WindowSpec,
        view: FeatureView,
        topic: str,
        decoder: EventDecoder,
        log: OfflineLog,
        *,
        repartitioned: bool = False,
        check_message_key: bool = True,
    ) -> None:
        self.spec, self.view, self.topic, self.decoder, self.log = spec, view, topic, decoder, log
        self.repartitioned = repartitioned
        self.check_message_key = check_message_key and not repartitioned
        self.partitions: dict[int, _Partition] = {}

    @property
    def name(self) -> str:
        return self.spec.view

    def assign(self, partition: int) -> int | None:
        """Restore the partition's state; the offset to resume from (None: the beginning)."""
        state = _Partition(WindowState(self.spec), applied={} if self.repartitioned else None)
        checkpoint = self.log.recover(self.topic, partition)
        if checkpoint is not None:
            state.state.restore(checkpoint.state)
            state.next_offset = checkpoint.next_offset
            if self.repartitioned:
                state.applied = checkpoint.applied or {}
        self.partitions[partition] = state
        return state.next_offset

    def revoke(self, partition: int) -> None:
        self.partitions.pop(partition, None)

    def wants(self, partition: int, offset: int) -> bool:
        state = self.partitions.get(partition)
        return state is not None and (state.next_offset or 0) <= offset

    def handle(
        self, host: Host, partition: int, records: Sequence[Any], events: Sequence[Decoded]
    ) -> HandleResult:
        """Apply the records this view has not applied yet; returns its keys' current rows."""
        result = HandleResult()
        state = self.partitions.get(partition)
        if state is None:  # revoked while the batch was in flight
            return result
        spec = self.spec
        key_field, time_field = spec.key, spec.timestamp_field
        window = state.state
        applied = state.applied
        start = state.next_offset or 0
        touched = False
        for record, event in zip(records, events, strict=True):
            if record.offset < start:
                continue
            touched = True
            if isinstance(event, Rejected):
                continue
            key = event.get(key_field)
            if applied is not None:
                source = _source(record)
                if source is None:
                    host.dead_letter(record, "no source partition and offset headers", self.name)
                    continue
                seen = applied.setdefault(str(key), {})
                if seen.get(source[0], -1) >= source[1]:
                    continue  # forwarded again after a crash: already applied
                seen[source[0]] = source[1]
            if key is None:
                host.dead_letter(record, f"missing field `{key_field}`", self.name)
                continue
            if (
                self.check_message_key
                and record.key is not None
                and record.key != str(key).encode()
            ):
                host.dead_letter(
                    record,
                    f"message key `{record.key!r}` differs from field `{key_field}` = "
                    f"`{key}`; publish events keyed by `{key_field}`",
                    self.name,
                )
                continue
            at = cast(int, event[time_field])  # the decoder made it µs
            late = window.add(str(key), at, record.offset, spec.input_values(event))
            if late is not None:
                host.dead_letter(
                    record,
                    f"event time {iso(at)} is more than the allowed lateness "
                    f"{spec.allowed_lateness} behind `{key}`'s latest event {iso(late)} "
                    f"(view `{self.name}`)",
                    self.name,
                )
                continue
            result.accepted_times.append(at)
            result.append_times.append(record.timestamp)
        if not touched:
            return result
        first = max(records[0].offset, start)
        if state.first_unlogged is None:
            state.first_unlogged = first
        state.next_offset = records[-1].offset + 1
        final, now = window.advance()
        state.rows.extend(final)
        result.current = now
        return result

    def checkpoint(self, partitions: Sequence[int]) -> dict[int, int]:
        """Append final rows and replace checkpoints; the offsets now committed, by partition."""
        committed = {}
        for number in partitions:
            state = self.partitions.get(number)
            if state is None or state.next_offset is None:
                continue
            committed[number] = state.next_offset
            if state.first_unlogged is None:
                continue
            if state.rows:
                self.log.append(
                    self.topic, number, state.first_unlogged, state.next_offset - 1, state.rows
                )
            snapshot = Checkpoint(state.next_offset, state.state.snapshot(), state.applied)
            self.log.commit(self.topic, number, snapshot)
            state.rows, state.first_unlogged = [], None
        return committed


class RepartitionTask:
    """Forwards a topic's events to `<topic>.by.<join key>` in aligned event-time order."""

    def __init__(
        self,
        topic: str,
        join_key: str,
        internal: str,
        decoder: EventDecoder,
        checkpoints: RepartitionCheckpoints,
    ) -> None:
        self.topic, self.join_key, self.internal = topic, join_key, internal
        self.decoder, self.checkpoints = decoder, checkpoints
        self.buffer = AlignedBuffer()
        self._saved: dict[int, tuple[int | None, int | None]] = {}

    @property
    def name(self) -> str:
        return self.internal

    def assign(self, partition: int) -> int | None:
        next_offset, watermark = self.checkpoints.load(self.topic, partition)
        self.buffer.assign(partition, next_offset, watermark)
        self._saved[partition] = (next_offset, watermark)
        return next_offset

    def revoke(self, partition: int) -> None:
        self.buffer.revoke(partition)
        self._saved.pop(partition, None)

    def wants(self, partition: int, offset: int) -> bool:
        source = self.buffer.partitions.get(partition)
        return source is not None and (source.next_offset or 0) <= offset

    def handle(
        self, host: Host, partition: int, records: Sequence[Any], events: Sequence[Decoded]
    ) -> HandleResult:
        source = self.buffer.partitions.get(partition)
        if source is None:
            return HandleResult()
        time_field = self.decoder.timestamp_field
        for record, event in zip(records, events, strict=True):
            if record.offset < (source.next_offset or 0):
                continue
            key = None if isinstance(event, Rejected) else event.get(self.join_key)
            if isinstance(event, Rejected) or key is None:
                if key is None and not isinstance(event, Rejected):
                    host.dead_letter(record, f"missing field `{self.join_key}`", self.internal)
                self.buffer.skip(partition, record.offset)
                continue
            at = cast(int, event[time_field])
            self.buffer.add(
                partition, record.offset, at, str(key).encode(), record.value, record.timestamp
            )
        return HandleResult()

    def release(self, host: Host, idle: Sequence[int]) -> int:
        """Forward what alignment allows; returns how many events were forwarded."""
        forwarded = 0
        for event in self.buffer.release(idle):
            headers = [
                (SOURCE_PARTITION, str(event.partition).encode()),
                (SOURCE_OFFSET, str(event.offset).encode()),
            ]
            host.forward(self.internal, event.key, event.value, headers, event.timestamp_ms)
            forwarded += 1
        return forwarded

    def checkpoint(self, partitions: Sequence[int]) -> dict[int, int]:
        """Save where forwarding resumes; call only after the producer flushed."""
        committed = {}
        for number in partitions:
            source = self.buffer.partitions.get(number)
            if source is None:
                continue
            next_offset, watermark = source.resume()
            if next_offset is None:
                continue
            committed[number] = next_offset
            if self._saved.get(number) != (next_offset, watermark):
                self.checkpoints.save(self.topic, number, next_offset, watermark)
                self._saved[number] = (next_offset, watermark)
        return committed


def _source(record: Any) -> tuple[str, int] | None:
    """The (source partition, source offset) headers of a forwarded event."""
    headers = dict(record.headers or ())
    partition, offset = headers.get(SOURCE_PARTITION), headers.get(SOURCE_OFFSET)
    if partition is None or offset is None:
        return None
    return partition.decode(), int(offset)


def iso(at_us: int) -> str:
    seconds, micros = divmod(at_us, 1_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{stamp}.{micros:06d}Z" if micros else f"{stamp}Z"
