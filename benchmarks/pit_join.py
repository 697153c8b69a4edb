"""Point-in-time join benchmark: Feast's DuckDB store, pandas merge_asof, a hand-written DuckDB
ASOF query and featurestore's engine on the same seeded Parquet files, in one run.

    python benchmarks/pit_join.py --scale S            # every method, 1 and 3 views
    python benchmarks/pit_join.py --scale L --methods ours,duckdb_asof
    python benchmarks/pit_join.py --scale M --data bitemporal \
        --methods duckdb_asof,ours,ours_known,feast,feast_known
    python benchmarks/pit_join.py --scale M --views 1 --methods ours,spark   # needs [spark]

Each method runs in its own process (so peak RSS is its own); results are checked for equal
values against featurestore's and the ratios are printed.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pit_data import DATASETS, FEATURES, SCALES, TTL_DAYS, ensure_data, view_files

DATA_ROOT = Path(__file__).resolve().parent / ".data" / "pit"
METHODS = ("feast", "pandas", "duckdb_asof", "ours", "ours_known", "feast_known", "spark")
DEFAULT_METHODS = ("feast", "pandas", "duckdb_asof", "ours", "ours_known")
PLUGIN = "featurestore.offline.feast_plugin.AsofOfflineStore"


# --- the methods (run in a child process) -------------------------------------------------


def run_feast(folder: Path, views: int, offline: dict[str, object], known: bool) -> pa.Table:
    import pandas as pd
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, RepoConfig, ValueType
    from feast.types import Float64

    work = Path(tempfile.mkdtemp(prefix="pit-bench-"))
    store = FeatureStore(
        config=RepoConfig(
            project="bench",
            provider="local",
            registry=str(work / "registry.db"),
            online_store={"type": "sqlite", "path": str(work / "online.db")},
            offline_store=offline,
            entity_key_serialization_version=3,
            repo_path=str(work),
        )
    )
    entity = Entity(name="entity", join_keys=["entity_id"], value_type=ValueType.INT64)
    feature_views = []
    for index, (path, names) in enumerate(view_files(folder, views)):
        source = FileSource(
            name=f"v{index}_source",
            path=str(path),
            timestamp_field="event_timestamp",
            created_timestamp_column="created_timestamp",
        )
        feature_views.append(
            FeatureView(
                name=f"v{index}",
                entities=[entity],
                ttl=timedelta(days=TTL_DAYS),
                schema=[Field(name=name, dtype=Float64) for name in names],
                source=source,
            )
        )
    store.apply([entity, *feature_views])
    refs = [
        f"v{i}:{name}" for i, (_, names) in enumerate(view_files(folder, views)) for name in names
    ]
    spine = pd.read_parquet(folder / "spine.parquet")
    return _timed(
        lambda: store.get_historical_features(
            entity_df=spine, features=refs, filter_by_created_timestamp=known
        ).to_arrow()
    )


def run_pandas(folder: Path, views: int) -> pa.Table:
    import pandas as pd

    spine = pd.read_parquet(folder / "spine.parquet")
    frames = [
        (pd.read_parquet(path, columns=["entity_id", "event_timestamp", *names]), names)
        for path, names in view_files(folder, views)
    ]

    def join() -> pa.Table:
        result = spine.sort_values("event_timestamp", kind="stable")
        for frame, _ in frames:
            result = pd.merge_asof(
                result,
                frame.sort_values("event_timestamp", kind="stable"),
                on="event_timestamp",
                by="entity_id",
                tolerance=pd.Timedelta(days=TTL_DAYS),
                direction="backward",
            )
        result = result.sort_values("row_id")
        return pa.Table.from_pandas(result[["row_id", *FEATURES]], preserve_index=False)

    return _timed(join)


def run_duckdb_asof(folder: Path, views: int, memory_limit: str | None) -> pa.Table:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if memory_limit:
        con.execute("SET memory_limit = ?", [memory_limit])
    selects, joins = [], []
    for index, (path, names) in enumerate(view_files(folder, views)):
        alias = f"v{index}"
        fresh = f"{alias}.event_timestamp >= s.event_timestamp - INTERVAL {TTL_DAYS} DAY"
        selects += [f"CASE WHEN {fresh} THEN {alias}.{name} END AS {name}" for name in names]
        joins.append(
            f"ASOF LEFT JOIN read_parquet('{path}') {alias} ON s.entity_id = {alias}.entity_id "
            f"AND s.event_timestamp >= {alias}.event_timestamp"
        )
    sql = (
        f"SELECT s.row_id, {', '.join(selects)} FROM read_parquet('{folder / 'spine.parquet'}') s "
        f"{' '.join(joins)} ORDER BY s.row_id"
    )
    return _timed(lambda: con.sql(sql).to_arrow_table())


def run_spark(folder: Path, views: int) -> pa.Table:
    """featurestore's Spark engine (Feast's Spark offline store, local[2]) on the same files."""
    from feast import FeatureStore, RepoConfig

    from featurestore.offline.engines import open_engine
    from featurestore.offline.source import SourceLocation, ViewSource

    work = Path(tempfile.mkdtemp(prefix="pit-bench-spark-"))
    spark_conf = {
        "spark.master": "local[2]",
        "spark.sql.shuffle.partitions": "2",
        "spark.driver.memory": "3g",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
    }
    store = FeatureStore(
        config=RepoConfig(
            project="bench",
            provider="local",
            registry=str(work / "registry.db"),
            online_store={"type": "sqlite", "path": str(work / "online.db")},
            offline_store={"type": "spark", "spark_conf": spark_conf},
            entity_key_serialization_version=3,
            repo_path=str(work),
        )
    )
    sources = [
        ViewSource(
            name=f"v{index}",
            location=SourceLocation.parquet(path),
            join_keys=("entity_id",),
            features=tuple(names),
            timestamp_field="event_timestamp",
            created_timestamp_field="created_timestamp",
            ttl=timedelta(days=TTL_DAYS),
        )
        for index, (path, names) in enumerate(view_files(folder, views))
    ]
    spine = pq.read_table(folder / "spine.parquet")
    engine = open_engine(store)
    try:
        return _timed(lambda: engine.historical_features(spine, sources, as_known_at=False).table)
    finally:
        engine.close()


RUNS = int(os.environ.get("PIT_BENCH_RUNS", "3"))
_seconds: list[float] = []
_cpu_seconds: list[float] = []


def _timed(join: Callable[[], pa.Table]) -> pa.Table:
    """Run the join RUNS times; the first run is cold (featurestore profiles its sources).
    Wall and CPU time (every thread of the process) are both kept: on a shared machine the
    CPU time says what a method costs when the wall time says mostly what else ran."""
    table = None
    for _ in range(RUNS):
        started, cpu = time.perf_counter(), time.process_time()
        table = join()
        _seconds.append(time.perf_counter() - started)
        _cpu_seconds.append(time.process_time() - cpu)
    assert table is not None
    return table


def child(method: str, folder: Path, views: int, out: Path, memory_limit: str | None) -> None:
    ours = {"type": PLUGIN, "memory_limit": memory_limit}
    runners: dict[str, Callable[[], pa.Table]] = {
        "feast": lambda: run_feast(folder, views, {"type": "duckdb"}, known=False),
        "feast_known": lambda: run_feast(folder, views, {"type": "duckdb"}, known=True),
        "ours": lambda: run_feast(folder, views, {**ours, "as_known_at": False}, False),
        "ours_known": lambda: run_feast(folder, views, {**ours, "as_known_at": True}, False),
        "pandas": lambda: run_pandas(folder, views),
        "duckdb_asof": lambda: run_duckdb_asof(folder, views, memory_limit),
        "spark": lambda: run_spark(folder, views),
    }
    os.environ["FEATURESTORE_CACHE_DIR"] = tempfile.mkdtemp(prefix="pit-profiles-")
    table = runners[method]()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    pq.write_table(table.select(["row_id", *FEATURES]), out)
    figures = {
        "seconds": min(_seconds),
        "cpu": min(_cpu_seconds),
        "cold": _seconds[0],
        "rows": table.num_rows,
    }
    print(json.dumps({**figures, "peak_rss_mb": peak_mb}))


# --- the driver ---------------------------------------------------------------------------


def mismatches(reference: Path, other: Path) -> int:
    differs = " OR ".join(f"a.{n} IS DISTINCT FROM b.{n}" for n in FEATURES)
    rows = duckdb.sql(
        f"SELECT count(*) FROM read_parquet('{reference}') a FULL JOIN read_parquet('{other}') b "
        f"USING (row_id) WHERE {differs}"
    ).fetchall()
    return int(rows[0][0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="S")
    parser.add_argument("--views", default="1,3", help="comma list of view counts (1 and/or 3)")
    parser.add_argument("--methods", default=",".join(DEFAULT_METHODS))
    parser.add_argument(
        "--memory-limit",
        help="DuckDB memory_limit for ours, ours_known and duckdb_asof (e.g. 512MB); "
        "default: DuckDB's own (80%% of RAM)",
    )
    parser.add_argument(
        "--data",
        choices=DATASETS,
        default="plain",
        help="plain: one row per key and event time; bitemporal: rows created 1-60 min after "
        "their event and 5%% restated hours to days later",
    )
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # progress shows when piped to a file
    parser.add_argument("--runs", type=int, default=RUNS, help="runs of each method (best shown)")
    parser.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ["PIT_BENCH_RUNS"] = str(args.runs)  # the children read it
    scale = SCALES[args.scale]
    folder = ensure_data(DATA_ROOT, scale, dataset=args.data)
    if args.child:
        child(args.child, folder, int(args.views), args.out, args.memory_limit)
        return

    print(
        f"scale {scale.name} ({args.data}): {scale.feature_rows:,} feature rows, "
        f"{scale.entities:,} entities, "
        f"{scale.spine_rows:,} entity rows, {len(FEATURES)} features, ttl {TTL_DAYS} days"
        + (f", DuckDB memory_limit {args.memory_limit}" if args.memory_limit else "")
    )
    results_dir = Path(tempfile.mkdtemp(prefix="pit-results-"))
    for views in (int(v) for v in args.views.split(",")):
        timings: dict[str, dict[str, float]] = {}
        for method in args.methods.split(","):
            out = results_dir / f"{method}-{views}.parquet"
            command = [
                sys.executable,
                __file__,
                "--scale",
                scale.name,
                "--data",
                args.data,
                "--views",
                str(views),
                "--child",
                method,
                "--out",
                str(out),
                *(["--memory-limit", args.memory_limit] if args.memory_limit else []),
            ]
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                last_line = done.stderr.strip().splitlines()[-1:]
                print(f"  {views} view(s) {method:12s} FAILED: {last_line}", flush=True)
                continue
            timings[method] = json.loads(done.stdout.strip().splitlines()[-1])
        reference = "ours" if "ours" in timings else next(iter(timings), None)
        for method, figures in timings.items():
            pair = {"ours_known": "feast_known", "feast_known": "ours_known"}.get(method, reference)
            other = results_dir / f"{pair}-{views}.parquet"
            check = (
                f"{mismatches(results_dir / f'{method}-{views}.parquet', other):,} rows differ "
                f"from {pair}"
                if pair in timings and pair != method
                else "reference"
            )
            print(
                f"  {views} view(s) {method:12s} {figures['seconds']:7.2f} s "
                f"(first run {figures['cold']:6.2f} s, CPU {figures['cpu']:6.2f} s)  "
                f"peak RSS {figures['peak_rss_mb']:6.0f} MB  {check}"
            )
        for top, bottom in (
            ("ours", "duckdb_asof"),
            ("ours_known", "duckdb_asof"),
            ("feast", "ours"),
            ("feast_known", "ours_known"),
            ("pandas", "ours"),
            ("ours_known", "ours"),
            ("spark", "ours"),
        ):
            if top in timings and bottom in timings:
                value = timings[top]["seconds"] / timings[bottom]["seconds"]
                cpu = timings[top]["cpu"] / timings[bottom]["cpu"]
                print(f"    {top} / {bottom} = {value:5.2f}× (CPU time {cpu:5.2f}×)", flush=True)


if __name__ == "__main__":
    main()
