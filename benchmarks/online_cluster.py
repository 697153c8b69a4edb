"""Redis Cluster vs one node, in one run on the same data: materialization of N keys × 8
features, and Python read latency (p50/p99) for 1 and 100 entities, with the ratios.

    python benchmarks/online_cluster.py                     # 100k keys × 8 features
    python benchmarks/online_cluster.py --entities 10000 --reads 500

Starts an embedded redis-server and an embedded 3-master Redis Cluster (same binary) on
loopback; both get the same registry, rows and read requests, interleaved.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from online import END, START, VIEW, ensure_data, machine, make_repo, percentiles


def flush(client: Any) -> None:
    from featurestore.online.connection import primaries

    for node in primaries(client):
        node.flushdb()


def bench_materialize(store: Any, clients: dict[str, Any], repeats: int) -> dict[str, float]:
    """Median seconds of `materialize` (DuckDB latest rows + our writer) into each target."""
    from featurestore.online.materialize import materialize

    seconds: dict[str, list[float]] = {name: [] for name in clients}
    for _ in range(repeats):
        for name, client in clients.items():
            flush(client)
            began = time.perf_counter()
            materialize(store, client, START, END)
            seconds[name].append(time.perf_counter() - began)
    return {name: statistics.median(values) for name, values in seconds.items()}


def bench_reads(
    store: Any, clients: dict[str, Any], features: int, entities: int, rounds: dict[int, int]
) -> dict[int, dict[str, dict[str, float]]]:
    from featurestore.online.client import OnlineClient

    refs = [f"{VIEW}:f{k}" for k in range(features)]
    readers = {name: OnlineClient(store, client) for name, client in clients.items()}
    methods: dict[str, Callable[[list[int]], object]] = {
        name: (lambda ids, r=reader: r.get(refs, {"entity_id": ids}))
        for name, reader in readers.items()
    }
    sample = list(range(0, entities, max(entities // 50, 1)))
    answers = [readers[name].get(refs, {"entity_id": sample}).to_dict() for name in readers]
    assert all(answer == answers[0] for answer in answers), "targets answer differently"
    picker = random.Random(7)
    results: dict[int, dict[str, dict[str, float]]] = {}
    for size, count in rounds.items():
        timings: dict[str, list[float]] = {name: [] for name in methods}
        for iteration in range(count + count // 10):
            ids = [picker.randrange(entities) for _ in range(size)]
            order = list(methods)
            picker.shuffle(order)  # interleaved, so background load hits both alike
            for name in order:
                began = time.perf_counter()
                methods[name](ids)
                if iteration >= count // 10:  # the first tenth warms caches
                    timings[name].append(time.perf_counter() - began)
        results[size] = {name: percentiles(values) for name, values in timings.items()}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=8)
    parser.add_argument("--reads", type=int, default=3000, help="timed reads of 1 entity")
    parser.add_argument("--repeats", type=int, default=3, help="materializations per target")
    args = parser.parse_args()

    from featurestore.online.connection import connect
    from featurestore.services import EmbeddedRedis
    from featurestore.services.redis_cluster import EmbeddedRedisCluster

    data = ensure_data(args.entities, args.entities, args.features)  # one row per key
    work = Path(tempfile.mkdtemp(prefix="online-cluster-bench-"))
    with contextlib.ExitStack() as stack:
        single = stack.enter_context(EmbeddedRedis())
        cluster = stack.enter_context(EmbeddedRedisCluster(masters=3))
        store, _ = make_repo(work, data, single.url, args.features)
        clients = {"one node": connect(single.url), "3-master cluster": connect(cluster.url)}
        materialized = bench_materialize(store, clients, args.repeats)
        rounds = {1: args.reads, 100: max(args.reads // 10, 50)}
        reads = bench_reads(store, clients, args.features, args.entities, rounds)
    shutil.rmtree(work, ignore_errors=True)

    print(f"\n== Redis Cluster benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}")
    print(f"   data: {args.entities:,} keys × {args.features} features (one row per key)")
    one, many = materialized["one node"], materialized["3-master cluster"]
    print(
        f"materialize (median of {args.repeats}): one node {one:.2f} s "
        f"({args.entities / one:,.0f} keys/s), cluster {many:.2f} s "
        f"({args.entities / many:,.0f} keys/s); cluster / one node {many / one:.2f}×"
    )
    for size, by_target in reads.items():
        a, b = by_target["one node"], by_target["3-master cluster"]
        print(
            f"read {size:>3} entit{'y' if size == 1 else 'ies'} (n={a['n']}): "
            f"one node p50 {a['p50'] * 1e6:,.0f} µs p99 {a['p99'] * 1e6:,.0f} µs; "
            f"cluster p50 {b['p50'] * 1e6:,.0f} µs p99 {b['p99'] * 1e6:,.0f} µs; "
            f"cluster / one node p99 {b['p99'] / a['p99']:.2f}×"
        )


if __name__ == "__main__":
    main()
