"""Repartitioning for views keyed by another entity than the topic's message key.

A view keyed by `merchant_id` on a topic keyed by `card_id` cannot keep per-key state in one
partition, so the consumer forwards each event to the internal topic `<topic>.by.<join key>`,
keyed by the view's join key (as Kafka Streams does), and the view reads that topic.

Order. Forwarding must not depend on how fast each source partition happens to be read, or
lateness decisions downstream would too. Each event gets a *rank*: the larger of its event time
and its partition's watermark (latest event time) before it, so ranks never decrease along a
partition. Events are forwarded in (rank, source partition, source offset) order, and only once
their rank is below the minimum of the partitions' watermarks (Flink's watermark alignment): any
event read later has a rank at least that minimum, so the forwarded sequence is the same however
the reads interleave. A partition read to its end (position = high-water mark) is *idle* and does
not hold the others back; with all events published before they are read, that is still
deterministic, while a live partition going idle and waking up may forward a late event out of
rank order (as in Flink's `withIdleness`). Alignment spans the source partitions this process
owns: for results independent of timing, let one process own a repartitioned topic.

Exactly once. Each forwarded event carries its source partition and offset in headers. The
checkpoint of a source partition (written after the producer flushed everything forwarded) holds
the offset of its first event not yet forwarded and the watermark before it; a crash re-reads
from there and forwards some events again, in the same order. The view applies an event only if
its offset is above the highest applied offset of its source partition for its key (kept in the
view's checkpointed state), so nothing is lost or counted twice.
"""

from __future__ import annotations

import heapq
import json
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streaming.offline_log import write_atomically

SOURCE_PARTITION = "featurestore.source.partition"
SOURCE_OFFSET = "featurestore.source.offset"


def internal_topic(topic: str, join_key: str) -> str:
    """The internal topic a view keyed by `join_key` reads events of `topic` from."""
    return f"{topic}.by.{join_key}"


@dataclass(frozen=True, order=True)
class Pending:
    """An event waiting to be forwarded, ordered by (rank, partition, offset)."""

    rank: int
    partition: int
    offset: int
    before: int | None = field(compare=False)
    """The partition's watermark before this event (restored on recovery)."""
    key: bytes = field(compare=False)
    value: bytes = field(compare=False)
    timestamp_ms: int | None = field(compare=False)


@dataclass
class SourcePartition:
    """One source partition: its watermark, read position and events not yet forwarded."""

    watermark: int | None = None
    next_offset: int | None = None
    pending: deque[Pending] = field(default_factory=deque)

    def resume(self) -> tuple[int | None, int | None]:
        """(offset, watermark before it) of the first event not forwarded yet."""
        if self.pending:
            return self.pending[0].offset, self.pending[0].before
        return self.next_offset, self.watermark


class AlignedBuffer:
    """Source partitions' events, released in rank order below the minimum watermark."""

    def __init__(self) -> None:
        self.partitions: dict[int, SourcePartition] = {}

    def assign(self, partition: int, next_offset: int | None, watermark: int | None) -> None:
        self.partitions[partition] = SourcePartition(watermark, next_offset)

    def revoke(self, partition: int) -> None:
        self.partitions.pop(partition, None)

    def add(
        self,
        partition: int,
        offset: int,
        at_us: int,
        key: bytes,
        value: bytes,
        timestamp_ms: int | None = None,
    ) -> None:
        source = self.partitions[partition]
        before = source.watermark
        rank = at_us if before is None else max(at_us, before)
        source.pending.append(Pending(rank, partition, offset, before, key, value, timestamp_ms))
        source.watermark = rank
        source.next_offset = offset + 1

    def skip(self, partition: int, offset: int) -> None:
        """A record that forwards nothing (dead-lettered) still advances the position."""
        self.partitions[partition].next_offset = offset + 1

    def release(self, idle: Iterable[int] = ()) -> Iterator[Pending]:
        """Pending events with rank below every busy partition's watermark, in rank order."""
        idle = set(idle)
        busy = [s.watermark for p, s in self.partitions.items() if p not in idle]
        if any(watermark is None for watermark in busy):
            return
        low = min((w for w in busy if w is not None), default=None)
        heap = [(s.pending[0], p) for p, s in self.partitions.items() if s.pending]
        heapq.heapify(heap)
        while heap:
            event, partition = heap[0]
            if low is not None and event.rank >= low:
                return
            source = self.partitions[partition]
            source.pending.popleft()
            if source.pending:
                heapq.heapreplace(heap, (source.pending[0], partition))
            else:
                heapq.heappop(heap)
            yield event

    @property
    def pending(self) -> int:
        return sum(len(s.pending) for s in self.partitions.values())


class RepartitionCheckpoints:
    """Per source partition: where forwarding resumes and the watermark before it."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, topic: str, partition: int) -> Path:
        return self.root / "_checkpoints" / f"{topic}-{partition}.json"

    def load(self, topic: str, partition: int) -> tuple[int | None, int | None]:
        path = self._path(topic, partition)
        if not path.is_file():
            return None, None
        data: dict[str, Any] = json.loads(path.read_text())
        return data["next_offset"], data["watermark"]

    def save(self, topic: str, partition: int, next_offset: int, watermark: int | None) -> None:
        path = self._path(topic, partition)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, json.dumps({"next_offset": next_offset, "watermark": watermark}))
