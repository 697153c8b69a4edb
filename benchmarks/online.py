"""Online path benchmark, in one run on the same data: materialization (ours, `feast materialize`,
a raw pipelined writer), Python reads (ours, Feast's SDK, raw redis-py HMGET + decode) and HTTP
serving (ours, `feast serve`), with the ratios.

    python benchmarks/online.py                      # 10M rows, 100k entities × 8 features
    python benchmarks/online.py --rows 1000000 --entities 10000 --parts read,http
    python benchmarks/online.py --feast /tmp/feast-serve-venv/bin/feast

`feast serve` needs `fastapi<0.145` and `grpcio`, which conflict with this project's fastapi:
pass `--feast` the `feast` executable of a separate venv (see benchmarks/README.md).
Uses FEATURESTORE_REDIS_URL when set, else an embedded redis-server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import platform
import random
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import redis

DATA_ROOT = Path(__file__).resolve().parent / ".data" / "online"
PROJECT = "bench_online"
VIEW = "entity_stats"
START = datetime(2025, 1, 1, tzinfo=UTC)
END = datetime(2026, 1, 1, tzinfo=UTC)


# --- data and repo ---------------------------------------------------------------------------


def ensure_data(rows: int, entities: int, features: int) -> Path:
    """Seeded rows: every entity gets rows / entities versions over 2025, created 5 min later."""
    path = DATA_ROOT / f"rows_{rows}_{entities}_{features}.parquet"
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = ", ".join(f"hash(i * {k + 7}) % 1000000 / 1000.0 AS f{k}" for k in range(features))
    span_us = int((END - START).total_seconds() * 1e6) - 1
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        f"""COPY (SELECT i % {entities} AS entity_id,
                   TIMESTAMPTZ '{START.isoformat()}'
                     + to_microseconds(CAST(hash(i) % {span_us} AS BIGINT)) AS event_timestamp,
                   event_timestamp + INTERVAL 5 MINUTE AS created_timestamp, {columns}
            FROM range({rows}) t(i)) TO '{path}' (FORMAT parquet)"""
    )
    return path


def make_repo(work: Path, data: Path, redis_url: str, features: int) -> tuple[Any, Any]:
    """A Feast repo over the data (registry in `work/data`), applied; our store and Feast's."""
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
    from feast.types import Float64

    from featurestore.definitions import rights
    from featurestore.online.connection import feast_online_store
    from featurestore.repo import open_store
    from featurestore.settings import load_settings

    repo = work / "repo"
    repo.mkdir()
    online = feast_online_store(redis_url)
    (work / "data").mkdir()
    (repo / "feature_store.yaml").write_text(
        f"project: {PROJECT}\nprovider: local\nregistry: {work / 'data' / 'registry.db'}\n"
        f"online_store:\n  type: redis\n  redis_type: {online['redis_type']}\n"
        f'  connection_string: "{online["connection_string"]}"\n'
        "offline_store:\n  type: duckdb\nentity_key_serialization_version: 3\n"
    )
    tags = rights(license="CC0-1.0", pii="none", purposes="training,serving")
    entity = Entity(name="entity", join_keys=["entity_id"], value_type=ValueType.INT64)
    source = FileSource(
        name="entity_rows",
        path=str(data),
        timestamp_field="event_timestamp",
        created_timestamp_column="created_timestamp",
        tags=tags,
    )
    view = FeatureView(
        name=VIEW,
        entities=[entity],
        ttl=timedelta(days=3650),
        schema=[Field(name=f"f{k}", dtype=Float64) for k in range(features)],
        source=source,
        tags=tags,
    )
    settings = load_settings(repo_path=repo, data_dir=work / "data", redis_url=redis_url)
    ours = open_store(settings, redis_url)
    ours.apply([entity, view])
    return ours, FeatureStore(repo_path=str(repo))


# --- materialization -------------------------------------------------------------------------


def bench_materialize(ours: Any, feast: Any, client: redis.Redis, features: int) -> dict[str, Any]:
    from featurestore.offline.latest import pull_latest
    from featurestore.online.encoding import (
        encode_entity_keys,
        encode_timestamps,
        encode_values,
    )
    from featurestore.online.layout import field_name, timestamp_field
    from featurestore.online.materialize import latest_source, materialize
    from featurestore.online.writer import OnlineWriter

    view = ours.get_feature_view(VIEW)
    results: dict[str, Any] = {}

    client.flushdb()
    began = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        feast.materialize(start_date=START, end_date=END)
    results["feast"] = time.perf_counter() - began
    feast_sample = read_sample(feast, features)

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    began = time.perf_counter()
    latest = pull_latest(con, latest_source(ours, view), START, END, event_timestamp_column="ts")
    results["ours_query"] = time.perf_counter() - began
    keys = len(latest)

    client.flushdb()
    began = time.perf_counter()
    OnlineWriter(client, PROJECT).write(view, latest, event_timestamp_column="ts")
    results["ours_write"] = time.perf_counter() - began

    # Raw lower bound: bytes already encoded (not timed), plain pipelined HSETs, no checks.
    names = [f"f{k}" for k in range(features)]
    key_types = {"entity_id": view.entity_columns[0].dtype.to_value_type()}
    redis_keys = encode_entity_keys({"entity_id": latest["entity_id"]}, key_types, PROJECT)
    stamps = encode_timestamps(latest["ts"], "ts").to_list()
    columns = [
        encode_values(latest[n], view.features[0].dtype.to_value_type(), n).to_list() for n in names
    ]
    fields = [timestamp_field(VIEW), *(field_name(VIEW, n) for n in names)]
    key_list = redis_keys.to_list()
    client.flushdb()
    began = time.perf_counter()
    for start in range(0, keys, 1000):
        with client.pipeline(transaction=False) as pipe:
            for i in range(start, min(start + 1000, keys)):
                values = [stamps[i], *(column[i] for column in columns)]
                pipe.hset(key_list[i], mapping=dict(zip(fields, values, strict=True)))
            pipe.execute()
    results["raw_write"] = time.perf_counter() - began

    client.flushdb()
    began = time.perf_counter()
    materialize(ours, client, START, END)
    results["ours"] = time.perf_counter() - began
    results["keys"] = keys
    results["same_values"] = read_sample(feast, features) == feast_sample
    return results


def read_sample(store: Any, features: int) -> dict[str, list[Any]]:
    rows = [{"entity_id": i} for i in range(0, 100_000, 997)]
    refs = [f"{VIEW}:f{k}" for k in range(features)]
    answer: dict[str, list[Any]] = store.get_online_features(
        features=refs, entity_rows=rows
    ).to_dict()
    return answer


# --- Python reads ----------------------------------------------------------------------------


def raw_reader(client: redis.Redis, features: int) -> Callable[[list[int]], list[list[Any]]]:
    """redis-py HMGET of the view's fields, values and event times decoded with protobuf."""
    from feast.protos.feast.types.Value_pb2 import Value
    from google.protobuf.timestamp_pb2 import Timestamp

    from featurestore.online.layout import field_name, timestamp_field

    fields = [*(field_name(VIEW, f"f{k}") for k in range(features)), timestamp_field(VIEW)]
    prefix = struct.pack("<III", 1, 2, len(b"entity_id")) + b"entity_id" + struct.pack("<II", 4, 8)
    suffix = PROJECT.encode()

    def decode(reply: list[bytes | None]) -> list[Any]:
        stamp = Timestamp.FromString(reply[-1]) if reply[-1] else None
        return [Value.FromString(raw).double_val if raw else None for raw in reply[:-1]] + [stamp]

    def read(ids: list[int]) -> list[list[Any]]:
        keys = [prefix + struct.pack("<q", i) + suffix for i in ids]
        if len(keys) == 1:
            return [decode(client.hmget(keys[0], fields))]
        with client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hmget(key, fields)
            return [decode(reply) for reply in pipe.execute()]

    return read


def bench_reads(
    ours: Any, feast: Any, client: redis.Redis, features: int, entities: int, rounds: dict[int, int]
) -> dict[str, Any]:
    from featurestore.online.client import OnlineClient

    refs = [f"{VIEW}:f{k}" for k in range(features)]
    online = OnlineClient(ours, client)
    raw = raw_reader(client, features)
    methods: dict[str, Callable[[list[int]], object]] = {
        "ours": lambda ids: online.get(refs, [{"entity_id": i} for i in ids]),
        "feast": lambda ids: feast.get_online_features(
            features=refs, entity_rows=[{"entity_id": i} for i in ids]
        ).to_dict(),
        "raw": raw,
    }
    picker = random.Random(7)
    results: dict[str, Any] = {}
    for size, count in rounds.items():
        timings: dict[str, list[float]] = {name: [] for name in methods}
        for iteration in range(count + count // 10):
            ids = [picker.randrange(entities) for _ in range(size)]
            order = list(methods)
            picker.shuffle(order)  # interleaved, so background load hits every method alike
            for name in order:
                began = time.perf_counter()
                methods[name](ids)
                if iteration >= count // 10:  # the first tenth warms caches
                    timings[name].append(time.perf_counter() - began)
        results[size] = {name: percentiles(values) for name, values in timings.items()}
    return results


# --- HTTP serving ----------------------------------------------------------------------------


@contextlib.contextmanager
def server(command: list[str], port: int, env: dict[str, str], log: Path) -> Iterator[None]:
    """A server subprocess, up once its port answers `GET /health`."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, env={**os.environ, **env}, stdout=out, stderr=out)
        try:
            deadline = time.monotonic() + 90
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"{command[0]} exited: {log.read_text()[-2000:]}")
                with contextlib.suppress(OSError):
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{command[0]} did not start: {log.read_text()[-2000:]}")
                time.sleep(0.2)
            yield
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


async def _connection(
    port: int, path: str, bodies: list[bytes], until: float, count: int, latencies: list[float]
) -> int:
    """One keep-alive HTTP/1.1 connection sending requests back to back; returns failures."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    failures = sent = 0
    while (sent < count) if count else (time.perf_counter() < until):
        body = bodies[sent % len(bodies)]
        request = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        began = time.perf_counter()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        match = re.search(rb"(?i)content-length: *(\d+)", head)
        await reader.readexactly(int(match.group(1)) if match else 0)
        latencies.append(time.perf_counter() - began)
        failures += head[9:12] != b"200"
        sent += 1
    writer.close()
    return failures


def load(
    port: int, path: str, bodies: list[bytes], *, clients: int, seconds: float = 0, count: int = 0
) -> dict[str, float]:
    latencies: list[float] = []

    async def run() -> int:
        until = time.perf_counter() + seconds
        tasks = [_connection(port, path, bodies, until, count, latencies) for _ in range(clients)]
        return sum(await asyncio.gather(*tasks))

    began = time.perf_counter()
    failures = asyncio.run(run())
    elapsed = time.perf_counter() - began
    return {**percentiles(latencies), "rps": len(latencies) / elapsed, "failures": failures}


def bench_http(
    work: Path, redis_url: str, feast_bin: str | None, features: int, entities: int, seconds: float
) -> dict[str, Any]:
    import json

    from featurestore.services import free_port

    picker = random.Random(11)
    refs = [f"{VIEW}:f{k}" for k in range(features)]
    bodies = [
        json.dumps(
            {"features": refs, "entities": {"entity_id": [picker.randrange(entities)]}}
        ).encode()
        for _ in range(1000)
    ]
    servers: dict[str, tuple[list[str], dict[str, str], str]] = {}
    port = free_port()
    servers["ours"] = (
        [sys.executable, "-m", "featurestore", "serve", "--host", "127.0.0.1", "--port", str(port)],
        {
            "FEATURESTORE_REPO_PATH": str(work / "repo"),
            "FEATURESTORE_DATA_DIR": str(work / "data"),
            "FEATURESTORE_REDIS_URL": redis_url,
        },
        "/online/features",
    )
    if feast_bin:
        runtime = work / "run"
        runtime.mkdir(exist_ok=True)
        servers["feast"] = (
            [
                feast_bin,
                "-c",
                str(work / "repo"),
                "serve",
                "-h",
                "127.0.0.1",
                "-p",
                "PORT",
                "--no-access-log",
                "--max-requests",
                "0",
                "--workers",
                "1",
            ],
            {"XDG_RUNTIME_DIR": str(runtime)},
            "/get-online-features",
        )
    results: dict[str, Any] = {}
    answers: dict[str, Any] = {}
    for name, (command, env, path) in servers.items():
        port = free_port()
        command = [str(port) if part == "PORT" else part for part in command]
        if name == "ours":
            command[command.index("--port") + 1] = str(port)
        with server(command, port, env, work / f"{name}-server.log"):
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}{path}",
                data=bodies[0],
                headers={"Content-Type": "application/json"},
            )
            answers[name] = json.loads(urllib.request.urlopen(request).read())
            load(port, path, bodies, clients=1, count=300)  # warm up
            sequential = load(port, path, bodies, clients=1, count=3000)
            concurrent = load(port, path, bodies, clients=8, seconds=seconds)
            results[name] = {"sequential": sequential, "concurrent": concurrent}
    if "feast" in answers:
        results["same_values"] = by_name(answers["ours"]) == by_name(answers["feast"])
    return results


def by_name(answer: dict[str, Any]) -> dict[str, list[Any]]:
    """Feature name → values of a feature-server answer (Feast's own order varies)."""
    values = (result["values"] for result in answer["results"])
    return dict(zip(answer["metadata"]["feature_names"], values, strict=True))


# --- reporting -------------------------------------------------------------------------------


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {"p50": float("nan"), "p99": float("nan"), "n": 0}
    return {
        "p50": statistics.median(ordered),
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "n": len(ordered),
    }


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load1, load5, _ = os.getloadavg()
    system = f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu})"
    return f"{system}, load {load1:.2f}/{load5:.2f}"


def bench_floor(redis_url: str, count: int = 3000) -> dict[str, float]:
    """The machine's own round trip: `PING` on a bare socket to the Redis server, sequentially.

    Every read and HTTP request here makes at least one such round trip (HTTP makes two), so
    its tail bounds theirs whatever the code does."""
    import socket
    from urllib.parse import urlsplit

    address = urlsplit(redis_url)
    with socket.create_connection((address.hostname or "127.0.0.1", address.port or 6379)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        latencies = []
        for _ in range(count + 300):
            began = time.perf_counter()
            s.sendall(b"PING\r\n")
            s.recv(64)
            latencies.append(time.perf_counter() - began)
    return percentiles(latencies[300:])


def report_materialize(m: dict[str, Any]) -> None:
    keys = m["keys"]

    def line(label: str, seconds: float) -> str:
        return f"  {label:<40} {seconds:7.2f} s {keys / seconds:>10,.0f} keys/s"

    print(f"\nMaterialization of {keys:,} latest keys (end to end unless noted)")
    print(line("feast materialize", m["feast"]))
    print(line("featurestore materialize", m["ours"]))
    print(line("  its DuckDB latest-per-key query alone", m["ours_query"]))
    print(line("  its writer alone (same rows)", m["ours_write"]))
    print(line("raw pipelined HSET, pre-encoded", m["raw_write"]))
    print(
        f"  ours vs feast end to end {m['feast'] / m['ours']:.1f}×, our writer vs raw HSET "
        f"{m['raw_write'] / m['ours_write']:.2f}×; Feast reads the same values: {m['same_values']}"
    )


def report_reads(reads: dict[int, dict[str, dict[str, float]]]) -> None:
    print("\nPython reads, all features of the view (µs, p50 / p99)")
    for size, methods in reads.items():
        cells = [f"{n} {m['p50'] * 1e6:6.0f} / {m['p99'] * 1e6:6.0f}" for n, m in methods.items()]
        print(f"  {size:>3} entit{'y  ' if size == 1 else 'ies'}: {'   '.join(cells)}")
        ours, raw, feast = methods["ours"], methods["raw"], methods["feast"]
        for stat in ("p99", "p50"):
            print(
                f"       {stat}: ours/raw {ours[stat] / raw[stat]:.2f}×, "
                f"feast/ours {feast[stat] / ours[stat]:.1f}×"
            )


def report_http(http: dict[str, Any]) -> None:
    print("\nHTTP, 1 entity × all features per request")
    for name in ("ours", "feast"):
        if name not in http:
            continue
        s, c = http[name]["sequential"], http[name]["concurrent"]
        print(
            f"  {name:<5} sequential p50 {s['p50'] * 1e3:5.2f} ms p99 {s['p99'] * 1e3:5.2f} ms; "
            f"8 clients {c['rps']:6,.0f} req/s p50 {c['p50'] * 1e3:5.2f} ms "
            f"p99 {c['p99'] * 1e3:5.2f} ms; failures {s['failures'] + c['failures']}"
        )
    if "feast" in http:
        ratio = http["ours"]["concurrent"]["rps"] / http["feast"]["concurrent"]["rps"]
        print(
            f"  8-client req/s ours / feast serve {ratio:.1f}×; same values: {http['same_values']}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=8)
    parser.add_argument("--parts", default="materialize,read,http")
    parser.add_argument("--feast", help="a `feast` executable whose venv can run `feast serve`")
    parser.add_argument("--reads", type=int, default=3000, help="timed reads of 1 entity")
    parser.add_argument("--seconds", type=float, default=10, help="duration of the 8-client run")
    args = parser.parse_args()
    parts = set(args.parts.split(","))

    from featurestore.services import EmbeddedRedis

    data = ensure_data(args.rows, args.entities, args.features)
    work = Path(tempfile.mkdtemp(prefix="online-bench-"))
    with contextlib.ExitStack() as stack:
        redis_url = (
            os.environ.get("FEATURESTORE_REDIS_URL") or stack.enter_context(EmbeddedRedis()).url
        )
        client = redis.Redis.from_url(redis_url)
        ours, feast = make_repo(work, data, redis_url, args.features)
        materialized = reads = http = None
        if "materialize" in parts:
            materialized = bench_materialize(ours, feast, client, args.features)
        else:
            from featurestore.online.materialize import materialize

            client.flushdb()
            materialize(ours, client, START, END)
        floor = bench_floor(redis_url)
        if "read" in parts:
            rounds = {1: args.reads, 100: max(args.reads // 10, 50)}
            reads = bench_reads(ours, feast, client, args.features, args.entities, rounds)
        if "http" in parts:
            http = bench_http(
                work, redis_url, args.feast, args.features, args.entities, args.seconds
            )
    shutil.rmtree(work, ignore_errors=True)
    print(f"\n== online benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}")
    print(f"   data: {args.rows:,} rows, {args.entities:,} entities × {args.features} features")
    print(
        f"   loopback round trip (bare-socket PING to Redis): p50 {floor['p50'] * 1e6:.0f} µs, "
        f"p99 {floor['p99'] * 1e6:.0f} µs"
    )
    if materialized:
        report_materialize(materialized)
    if reads:
        report_reads(reads)
    if http:
        report_http(http)


if __name__ == "__main__":
    main()
