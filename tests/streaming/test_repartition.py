"""Watermark alignment: the forwarded order is the same however the partitions' reads interleave,
and a restart from any checkpoint forwards the rest in that same order."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from streaming.repartition import AlignedBuffer, Pending

Partitions = list[list[int]]  # per partition: event times in offset order

partitions_strategy = st.lists(
    st.lists(st.integers(min_value=0, max_value=30), max_size=12), min_size=1, max_size=4
)


def expected_order(partitions: Partitions) -> list[tuple[int, int]]:
    """(partition, offset) sorted by (rank, partition, offset), rank = max(time, watermark)."""
    ranked = []
    for number, times in enumerate(partitions):
        watermark = None
        for offset, at in enumerate(times):
            watermark = at if watermark is None else max(at, watermark)
            ranked.append((watermark, number, offset))
    return [(number, offset) for _, number, offset in sorted(ranked)]


def run(
    partitions: Partitions,
    schedule: list[int],
    buffer: AlignedBuffer | None = None,
    *,
    finish: bool = True,
) -> tuple[list[Pending], AlignedBuffer]:
    """Read one event at a time from the partition the schedule names; release after each read,
    treating a partition read to its end as idle; then (`finish`) read the rest."""
    if buffer is None:
        buffer = AlignedBuffer()
        for number in range(len(partitions)):
            buffer.assign(number, None, None)
    out: list[Pending] = []

    def idle() -> list[int]:
        return [
            n
            for n, source in buffer.partitions.items()
            if (source.next_offset or 0) >= len(partitions[n])
        ]

    out.extend(buffer.release(idle()))
    for pick in schedule:
        readable = [
            n for n, s in buffer.partitions.items() if (s.next_offset or 0) < len(partitions[n])
        ]
        if not readable:
            break
        number = readable[pick % len(readable)]
        offset = buffer.partitions[number].next_offset or 0
        buffer.add(number, offset, partitions[number][offset], b"k", b"v")
        out.extend(buffer.release(idle()))
    while finish and any(
        (s.next_offset or 0) < len(partitions[n]) for n, s in buffer.partitions.items()
    ):
        number = next(
            n for n, s in buffer.partitions.items() if (s.next_offset or 0) < len(partitions[n])
        )
        offset = buffer.partitions[number].next_offset or 0
        buffer.add(number, offset, partitions[number][offset], b"k", b"v")
        out.extend(buffer.release(idle()))
    out.extend(buffer.release(idle()))
    return out, buffer


@settings(max_examples=200, deadline=None)
@given(partitions=partitions_strategy, schedule=st.lists(st.integers(0, 3), max_size=60))
def test_forwarded_order_does_not_depend_on_read_interleaving(
    partitions: Partitions, schedule: list[int]
) -> None:
    forwarded, buffer = run(partitions, schedule)

    assert [(e.partition, e.offset) for e in forwarded] == expected_order(partitions)
    assert buffer.pending == 0


@settings(max_examples=200, deadline=None)
@given(
    partitions=partitions_strategy,
    schedule=st.lists(st.integers(0, 3), max_size=60),
    crash_after=st.integers(min_value=0, max_value=40),
)
def test_restart_from_a_checkpoint_forwards_the_rest_in_the_same_order(
    partitions: Partitions, schedule: list[int], crash_after: int
) -> None:
    before, buffer = run(partitions, schedule[:crash_after], finish=False)
    # What a crash keeps: per partition, where forwarding resumes and the watermark before it.
    resumed = AlignedBuffer()
    for number, source in buffer.partitions.items():
        offset, watermark = source.resume()
        resumed.assign(number, offset, watermark)
    after, _ = run(partitions, schedule[crash_after:], resumed)

    seen = {(e.partition, e.offset) for e in before}
    fresh = [(e.partition, e.offset) for e in after if (e.partition, e.offset) not in seen]
    assert [(e.partition, e.offset) for e in before] + fresh == expected_order(partitions)
    # Forwarded again after the restart: only events forwarded before, in their order.
    again = [(e.partition, e.offset) for e in after if (e.partition, e.offset) in seen]
    assert again == [(e.partition, e.offset) for e in before][len(before) - len(again) :]
