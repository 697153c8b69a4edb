"""Seeded generator of point-in-time benchmark data: feature views and an entity spine."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

FEATURES = [f"f{i}" for i in range(8)]
VIEW_SPLITS = {1: [FEATURES], 3: [FEATURES[:3], FEATURES[3:6], FEATURES[6:]]}
START_US = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z
SPAN_US = 365 * 86_400 * 1_000_000
TTL_DAYS = 7


@dataclass(frozen=True)
class Scale:
    name: str
    entities: int
    feature_rows: int
    spine_rows: int


SCALES = {
    "S": Scale("S", 10_000, 1_000_000, 100_000),
    "M": Scale("M", 100_000, 10_000_000, 1_000_000),
    "L": Scale("L", 1_000_000, 50_000_000, 5_000_000),
}


DATASETS = ("plain", "bitemporal")
RESTATED_SHARE = 0.05


def ensure_data(root: Path, scale: Scale, seed: int = 13, dataset: str = "plain") -> Path:
    """Write (once) the feature rows split over 1 and 3 views, and the spine, under `root`.

    `plain`: one row per (key, second), created 0–60 min after its event. `bitemporal`: each
    row created 1–60 min after its event, and 5% of rows restated (same key and event time,
    other values) 1 hour to 3 days later, appended as a later load would; about as many rows
    in all as `plain`."""
    folder = root / (scale.name if dataset == "plain" else f"{scale.name}-{dataset}")
    done = folder / "_complete"
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    base_rows = scale.feature_rows
    if dataset == "bitemporal":
        base_rows = round(scale.feature_rows / (1 + RESTATED_SHARE))
    keys = rng.integers(0, scale.entities, base_rows, dtype=np.int64)
    # Second-granularity times; (key, time) pairs are made unique so every engine agrees.
    seconds = SPAN_US // 1_000_000
    times = START_US + rng.integers(0, seconds, base_rows) * 1_000_000
    # One int64 per (key, second), so np.unique sorts numbers, not columns (same order).
    pairs = np.unique(keys * seconds + (times - START_US) // 1_000_000)
    keys, times = pairs // seconds, START_US + (pairs % seconds) * 1_000_000
    if dataset == "bitemporal":
        created = times + rng.integers(60, 3_600, len(times)) * 1_000_000
        restated = np.flatnonzero(rng.random(len(times)) < RESTATED_SHARE)
        delay = rng.integers(3_600, 3 * 86_400, len(restated)) * 1_000_000
        keys = np.concatenate([keys, keys[restated]])
        created = np.concatenate([created, created[restated] + delay])
        times = np.concatenate([times, times[restated]])
    else:
        created = times + rng.integers(0, 3_600, len(times)) * 1_000_000
    values = {name: rng.normal(size=len(times)).round(6) for name in FEATURES}
    ts = pa.timestamp("us", tz="UTC")
    base = {
        "entity_id": pa.array(keys),
        "event_timestamp": pa.array(times, ts),
        "created_timestamp": pa.array(created, ts),
    }
    for count, groups in VIEW_SPLITS.items():
        for index, names in enumerate(groups):
            table = pa.table({**base, **{name: pa.array(values[name]) for name in names}})
            pq.write_table(table, folder / f"views{count}_{index}.parquet", row_group_size=1 << 20)
    spine_keys = rng.integers(0, scale.entities + scale.entities // 50, scale.spine_rows)
    spine_times = (
        START_US + rng.integers(-86_400, SPAN_US // 1_000_000, scale.spine_rows) * 1_000_000
    )
    spine = pa.table(
        {
            "row_id": pa.array(np.arange(scale.spine_rows, dtype=np.int64)),
            "entity_id": pa.array(spine_keys.astype(np.int64)),
            "event_timestamp": pa.array(spine_times, ts),
        }
    )
    pq.write_table(spine, folder / "spine.parquet", row_group_size=1 << 20)
    done.touch()
    return folder


def view_files(folder: Path, views: int) -> list[tuple[Path, list[str]]]:
    """The Parquet file and feature names of each view when the features span `views` views."""
    return [
        (folder / f"views{views}_{index}.parquet", names)
        for index, names in enumerate(VIEW_SPLITS[views])
    ]
