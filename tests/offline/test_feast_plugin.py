"""Our Feast offline-store plugin against Feast's own DuckDB store on the same files."""

from __future__ import annotations

import contextlib
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, RepoConfig, ValueType
from feast.types import Float64, Int64

from featurestore.offline.arrow_io import write_parquet
from featurestore.offline.feast_plugin import PLUGIN_TYPE, AsofRetrievalJob

pytestmark = pytest.mark.integration

START = datetime(2024, 3, 1, tzinfo=UTC)


def random_features(seed: int, rows: int, entities: int) -> pa.Table:
    """Event times on a coarse grid (ties happen), created times at or after them; no two rows
    share key, event and created time, since neither store defines which of those wins."""
    rng = np.random.default_rng(seed)
    event = START + pd.to_timedelta(rng.integers(0, 48, rows) * 30, unit="min")
    created = event + pd.to_timedelta(rng.choice([0, 0, 5, 45, 300], rows), unit="min")
    frame = pd.DataFrame(
        {
            "driver_id": rng.integers(0, entities, rows),
            "event_timestamp": event,
            "created": created,
            "rating": rng.normal(size=rows),
            "trips": rng.integers(0, 100, rows),
        }
    ).drop_duplicates(["driver_id", "event_timestamp", "created"])
    return pa.Table.from_pandas(frame, preserve_index=False)


def random_spine(seed: int, rows: int, entities: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed + 1)
    return pd.DataFrame(
        {
            "driver_id": rng.integers(0, entities + 2, rows),  # some never have data
            "event_timestamp": START
            + pd.to_timedelta(rng.integers(-60, 24 * 60 + 120, rows), unit="min"),
            "label": rng.integers(0, 2, rows),
        }
    )


def make_store(tmp_path: Path, offline_type: str, ttl: timedelta) -> FeatureStore:
    short = offline_type.rsplit(".", 1)[-1]
    config = RepoConfig(
        project="pit_check",
        provider="local",
        registry=str(tmp_path / f"registry-{short}.db"),
        online_store={"type": "sqlite", "path": str(tmp_path / f"online-{short}.db")},
        offline_store={"type": offline_type},
        entity_key_serialization_version=3,
        repo_path=str(tmp_path),
    )
    store = FeatureStore(config=config)
    driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
    source = FileSource(
        name="driver_stats",
        path=str(tmp_path / "features.parquet"),
        timestamp_field="event_timestamp",
        created_timestamp_column="created",
    )
    view = FeatureView(
        name="driver_stats",
        entities=[driver],
        ttl=ttl,
        schema=[Field(name="rating", dtype=Float64), Field(name="trips", dtype=Int64)],
        source=source,
    )
    store.apply([driver, view])
    return store


def retrieve(store: FeatureStore, spine: pd.DataFrame, *, filter_created: bool) -> pd.DataFrame:
    frame = store.get_historical_features(
        entity_df=spine,
        features=["driver_stats:rating", "driver_stats:trips"],
        filter_by_created_timestamp=filter_created,
    ).to_df()
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True)
    columns = ["driver_id", "event_timestamp", "label", "rating", "trips"]
    ordered = frame[columns].sort_values(columns[:3], kind="stable").reset_index(drop=True)
    ordered["trips"] = ordered["trips"].astype("Float64")
    return ordered


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("ttl_hours", [0, 3])
@pytest.mark.parametrize("filter_created", [False, True])
def test_same_values_as_feasts_duckdb_store(
    tmp_path: Path, seed: int, ttl_hours: int, filter_created: bool
) -> None:
    write_parquet(random_features(seed, rows=400, entities=12), tmp_path / "features.parquet")
    spine = random_spine(seed, rows=300, entities=12)
    ttl = timedelta(hours=ttl_hours)
    feast_store = make_store(tmp_path, "duckdb", ttl)
    our_store = make_store(tmp_path, PLUGIN_TYPE, ttl)  # default settings: Feast's contract

    theirs = retrieve(feast_store, spine, filter_created=filter_created)
    ours = retrieve(our_store, spine, filter_created=filter_created)

    assert ours["rating"].notna().sum() > 50
    pd.testing.assert_frame_equal(ours, theirs, check_dtype=False)


def test_feast_materialize_through_the_plugin_writes_what_feasts_store_writes(
    tmp_path: Path,
) -> None:
    # Event-time ties with different created times: the latest created must win in both.
    write_parquet(random_features(5, rows=400, entities=12), tmp_path / "features.parquet")
    entity_rows = [{"driver_id": driver} for driver in range(14)]
    online = {}
    for offline_type in ("duckdb", PLUGIN_TYPE):
        store = make_store(tmp_path, offline_type, timedelta(0))
        with contextlib.redirect_stdout(io.StringIO()):  # Feast prints progress
            store.materialize(START - timedelta(days=1), START + timedelta(days=2))
        online[offline_type] = store.get_online_features(
            features=["driver_stats:rating", "driver_stats:trips"], entity_rows=entity_rows
        ).to_dict()

    assert online[PLUGIN_TYPE] == online["duckdb"]
    assert sum(value is not None for value in online[PLUGIN_TYPE]["rating"]) == 12


def test_entity_rows_keep_their_order_and_columns(tmp_path: Path) -> None:
    write_parquet(random_features(7, rows=200, entities=5), tmp_path / "features.parquet")
    spine = random_spine(7, rows=100, entities=5)
    store = make_store(tmp_path, PLUGIN_TYPE, timedelta(0))

    job = store.get_historical_features(entity_df=spine, features=["driver_stats:rating"])
    frame = job.to_df()

    assert isinstance(job, AsofRetrievalJob)
    assert list(frame.columns) == ["driver_id", "event_timestamp", "label", "rating"]
    assert frame["driver_id"].tolist() == spine["driver_id"].tolist()
    assert frame["label"].tolist() == spine["label"].tolist()


def test_feasts_flag_decides_per_call_and_as_known_at_sets_the_repo_default(
    tmp_path: Path,
) -> None:
    write_parquet(random_features(9, rows=300, entities=6), tmp_path / "features.parquet")
    spine = random_spine(9, rows=200, entities=6)
    store = make_store(tmp_path, PLUGIN_TYPE, timedelta(0))

    def ratings(**flag: bool) -> tuple[pd.Series, AsofRetrievalJob]:
        job = store.get_historical_features(
            entity_df=spine, features=["driver_stats:rating"], **flag
        )
        assert isinstance(job, AsofRetrievalJob)
        return job.to_df()["rating"].fillna(-999), job

    unasked, _ = ratings()
    off, off_job = ratings(filter_by_created_timestamp=False)
    on, on_job = ratings(filter_by_created_timestamp=True)
    store.config.offline_store.as_known_at = True
    repo_default, _ = ratings()

    changed = int((on != off).sum())
    assert changed > 0
    assert unasked.equals(off)  # Feast's default: no created-time filter
    assert repo_default.equals(on)  # `as_known_at: true` turns it on for calls that do not ask
    assert off_job.hidden_by_knowledge_time == {"driver_stats": 0}
    assert on_job.hidden_by_knowledge_time == {"driver_stats": changed}


def test_training_frame_writes_straight_to_parquet(tmp_path: Path) -> None:
    write_parquet(random_features(4, rows=100, entities=4), tmp_path / "features.parquet")
    spine = random_spine(4, rows=50, entities=4)
    store = make_store(tmp_path, PLUGIN_TYPE, timedelta(0))
    job = store.get_historical_features(entity_df=spine, features=["driver_stats:trips"])
    assert isinstance(job, AsofRetrievalJob)

    written = job.to_parquet(tmp_path / "out" / "frame.parquet")

    table = pa.parquet.read_table(tmp_path / "out" / "frame.parquet")
    assert written == table.num_rows == 50
    batches = list(job.to_record_batches(max_rows=20))
    assert [batch.num_rows for batch in batches] == [20, 20, 10]
    assert (
        pa.Table.from_batches(batches)
        .select(["driver_id", "trips"])
        .equals(table.select(["driver_id", "trips"]))
    )
    assert table.schema.field("event_timestamp").type == pa.timestamp("us", tz="UTC")
