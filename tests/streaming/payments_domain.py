"""The payments domain of the streaming tests: events, publishing, and a brute-force oracle.

The oracle follows the documented semantics only: arrival order per key (topic order, or for a
repartitioned view the aligned (rank, partition, offset) order), lateness against each key's
watermark, and each window's aggregate over `(t - W, t]` computed from scratch.
"""

from __future__ import annotations

import json
import random
import shutil
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

from featurestore.aggregations import WindowSpec
from featurestore.kafka import ensure_topics, make_producer

REPO = Path(__file__).parent / "payments_repo"
START_US = int(datetime(2024, 3, 1, tzinfo=UTC).timestamp() * 1_000_000)
SECOND_US = 1_000_000


@dataclass(frozen=True)
class Payment:
    payment_id: int
    card_id: str
    merchant_id: str
    at_us: int
    amount_cents: int
    partition: int = -1
    offset: int = -1

    def fields(self) -> dict[str, Any]:
        return {
            "payment_id": self.payment_id,
            "card_id": self.card_id,
            "merchant_id": self.merchant_id,
            "amount_cents": self.amount_cents,
        }

    def to_json(self) -> bytes:
        stamp = datetime.fromtimestamp(self.at_us / 1_000_000, UTC).isoformat()
        return json.dumps({**self.fields(), "event_timestamp": stamp}).encode()


def redis_database_url(url: str, database: int) -> str:
    return urlunparse(urlparse(url)._replace(path=f"/{database}"))


def copy_repo(target: Path) -> Path:
    shutil.copytree(REPO, target)
    return target


def make_payments(seed: int, count: int) -> list[Payment]:
    """Payments over a few hours, mostly in time order, some late (a few beyond the lateness)."""
    rng = random.Random(seed)
    at = START_US
    payments = []
    for number in range(1, count + 1):
        at += rng.randint(0, 60) * SECOND_US
        late = rng.random() < 0.1
        when = at - rng.randint(0, 240) * SECOND_US if late else at
        payments.append(
            Payment(
                payment_id=number,
                card_id=f"card-{rng.randint(1, 12):02d}",
                merchant_id=f"m-{rng.randint(1, 4)}",
                at_us=when,
                amount_cents=rng.randint(1, 20_000),
            )
        )
    return payments


def publish(
    servers: str, topic: str, payments: list[Payment], partitions: int = 3
) -> list[Payment]:
    """Publish keyed by card; returns the payments with the partition and offset they got."""
    ensure_topics(servers, {topic: partitions, f"{topic}.dlq": 1})
    producer = make_producer(servers, max_in_flight_requests_per_connection=1)
    try:
        futures = [
            producer.send(topic, key=p.card_id.encode(), value=p.to_json()) for p in payments
        ]
        producer.flush()
        placed = []
        for payment, future in zip(payments, futures, strict=True):
            metadata = future.get(timeout=30)
            placed.append(
                Payment(
                    **{
                        **payment.__dict__,
                        "partition": metadata.partition,
                        "offset": metadata.offset,
                    }
                )
            )
        return placed
    finally:
        producer.close()


def aligned_order(payments: list[Payment]) -> list[Payment]:
    """The order a repartitioned view sees: by (rank, partition, offset), where the rank is the
    larger of the event time and its partition's latest event time before it."""
    ranked = []
    by_partition: dict[int, list[Payment]] = defaultdict(list)
    for payment in payments:
        by_partition[payment.partition].append(payment)
    for partition, events in by_partition.items():
        watermark = None
        for payment in sorted(events, key=lambda p: p.offset):
            rank = payment.at_us if watermark is None else max(payment.at_us, watermark)
            watermark = rank
            ranked.append((rank, partition, payment.offset, payment))
    return [entry[3] for entry in sorted(ranked, key=lambda e: e[:3])]


def topic_order(payments: list[Payment]) -> list[Payment]:
    """The order a view keyed like the topic sees (per key: its partition's offset order)."""
    return sorted(payments, key=lambda p: (p.partition, p.offset))


class Oracle:
    """A view's values by brute force, from events in the order the view receives them."""

    def __init__(self, spec: WindowSpec, arrived: list[Payment]) -> None:
        self.spec = spec
        self.accepted: dict[str, list[tuple[int, int, Payment]]] = defaultdict(list)
        self.watermark: dict[str, int] = {}
        for seq, payment in enumerate(arrived):
            key = str(payment.fields()[spec.key])
            mark = self.watermark.get(key)
            if mark is not None and payment.at_us <= mark - spec.lateness_us:
                continue
            self.watermark[key] = payment.at_us if mark is None else max(mark, payment.at_us)
            self.accepted[key].append((payment.at_us, seq, payment))

    def value_at(self, key: str, at_us: int) -> tuple[Any, ...]:
        values: list[Any] = []
        for aggregation in self.spec.aggregations:
            inside = sorted(
                (t, seq, p)
                for t, seq, p in self.accepted.get(key, [])
                if at_us - aggregation.window_us < t <= at_us
            )
            column = [p.fields()[aggregation.column] for _, _, p in inside]
            function = aggregation.function
            if function == "count":
                values.append(len(column))
            elif function == "count_distinct":
                values.append(len(set(column)))
            elif not column:
                values.append(None)
            elif function == "sum":
                values.append(sum(column))
            elif function == "mean":
                values.append(sum(column) / len(column))
            elif function == "min":
                values.append(min(column))
            elif function == "max":
                values.append(max(column))
            else:
                values.append(column[-1])
        return tuple(values)

    def change_points(self, key: str) -> list[int]:
        times = {t for t, _, _ in self.accepted[key]}
        for window in self.spec.windows_us:
            times |= {t + window for t, _, _ in self.accepted[key]}
        return sorted(times)

    def all_rows(self) -> set[tuple[str, int, tuple[Any, ...]]]:
        return {
            (key, at, self.value_at(key, at))
            for key in self.accepted
            for at in self.change_points(key)
        }

    def final_rows(self) -> set[tuple[str, int, tuple[Any, ...]]]:
        lateness = self.spec.lateness_us
        return {row for row in self.all_rows() if row[1] <= self.watermark[row[0]] - lateness}

    def online(self) -> dict[str, tuple[int, tuple[Any, ...]]]:
        return {key: (mark, self.value_at(key, mark)) for key, mark in self.watermark.items()}
