"""The rest of Feast's offline-store surface through our plugin: saved datasets, on-demand
projection, field mappings, offline writes, feature logs, monitoring, and the created-time rule
of featurestore's own entry points."""

from __future__ import annotations

import contextlib
import io
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, RepoConfig, ValueType
from feast.data_format import ParquetFormat
from feast.errors import SavedDatasetLocationAlreadyExists
from feast.feature_logging import REQUEST_ID_FIELD, FeatureServiceLoggingSource, LoggingConfig
from feast.feature_service import FeatureService
from feast.infra.offline_stores.duckdb import DuckDBOfflineStore, DuckDBOfflineStoreConfig
from feast.infra.offline_stores.file_source import FileLoggingDestination, SavedDatasetFileStorage
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Float64, Int64
from test_feast_plugin import START, random_features, random_spine

from featurestore.errors import SourceDataError
from featurestore.offline.arrow_io import write_parquet
from featurestore.offline.feast_plugin import PLUGIN_TYPE, AsofOfflineStore
from featurestore.offline.retrieval import historical_features

pytestmark = pytest.mark.integration

SOURCE_COLUMNS = {"ts": "event_timestamp", "made": "created", "score": "rating"}
"""The mapped source's Parquet names and the names its feature view uses."""


def open_store(
    tmp_path: Path, offline_type: str = PLUGIN_TYPE, *, mapped: bool = False
) -> tuple[FeatureStore, FeatureView]:
    short = offline_type.rsplit(".", 1)[-1]
    store = FeatureStore(
        config=RepoConfig(
            project="surface",
            provider="local",
            registry=str(tmp_path / f"registry-{short}.db"),
            online_store={"type": "sqlite", "path": str(tmp_path / f"online-{short}.db")},
            offline_store={"type": offline_type},
            entity_key_serialization_version=3,
            repo_path=str(tmp_path),
        )
    )
    driver = Entity(name="driver", join_keys=["driver_id"], value_type=ValueType.INT64)
    source = FileSource(
        name="driver_stats",
        path=str(tmp_path / ("mapped.parquet" if mapped else "features.parquet")),
        timestamp_field="event_timestamp",
        created_timestamp_column="created",
        field_mapping=SOURCE_COLUMNS if mapped else None,
    )
    view = FeatureView(
        name="driver_stats",
        entities=[driver],
        ttl=timedelta(0),
        schema=[Field(name="rating", dtype=Float64), Field(name="trips", dtype=Int64)],
        source=source,
    )
    store.apply([driver, view])
    return store, view


def test_saved_datasets_in_feasts_folder_layout_and_as_a_file(tmp_path: Path) -> None:
    write_parquet(random_features(11, rows=200, entities=5), tmp_path / "features.parquet")
    store, _ = open_store(tmp_path)
    job = store.get_historical_features(
        entity_df=random_spine(11, rows=80, entities=5),
        features=["driver_stats:rating", "driver_stats:trips"],
    )
    expected = _sorted(job.to_df()[["driver_id", "event_timestamp", "rating", "trips"]])
    folder = tmp_path / "saved"

    for name, path in [("as_folder", folder), ("as_file", tmp_path / "saved.parquet")]:
        store.create_saved_dataset(
            from_=job, name=name, storage=SavedDatasetFileStorage(path=str(path))
        )
        back = store.get_saved_dataset(name).to_df()
        pd.testing.assert_frame_equal(_sorted(back[expected.columns]), expected)

    assert list(folder.glob("*.parquet"))  # Feast's layout: Parquet files in the folder
    with pytest.raises(SavedDatasetLocationAlreadyExists):
        store.create_saved_dataset(
            from_=job, name="again", storage=SavedDatasetFileStorage(path=str(folder))
        )


def test_only_the_requested_on_demand_features_come_back(tmp_path: Path) -> None:
    write_parquet(random_features(12, rows=200, entities=5), tmp_path / "features.parquet")
    store, view = open_store(tmp_path)

    @on_demand_feature_view(
        sources=[view],
        schema=[Field(name="doubled", dtype=Float64), Field(name="plus_one", dtype=Float64)],
        mode="pandas",
    )
    def rating_variants(inputs: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"doubled": inputs["rating"] * 2, "plus_one": inputs["rating"] + 1})

    store.apply([rating_variants])
    spine = random_spine(12, rows=50, entities=5)

    frame = store.get_historical_features(
        entity_df=spine, features=["rating_variants:doubled"]
    ).to_df()
    full = store.get_historical_features(
        entity_df=spine, features=["rating_variants:plus_one"], full_feature_names=True
    ).to_df()

    assert "doubled" in frame.columns and "plus_one" not in frame.columns
    assert "rating_variants__plus_one" in full.columns
    assert "rating_variants__doubled" not in full.columns
    pd.testing.assert_series_equal(
        frame["doubled"], frame["rating"] * 2, check_names=False, check_dtype=False
    )


def test_materialize_a_field_mapped_source_with_nanosecond_times(tmp_path: Path) -> None:
    features = random_features(13, rows=300, entities=8).to_pandas()
    raw = features.rename(columns={new: old for old, new in SOURCE_COLUMNS.items()})
    for column in ("ts", "made"):  # pandas' default unit, as a Feast user writes it
        raw[column] = pd.to_datetime(raw[column], utc=True).astype("datetime64[ns, UTC]")
    pq.write_table(pa.Table.from_pandas(raw, preserve_index=False), tmp_path / "mapped.parquet")
    online = {}
    for offline_type in ("duckdb", PLUGIN_TYPE):
        store, _ = open_store(tmp_path, offline_type, mapped=True)
        with contextlib.redirect_stdout(io.StringIO()):  # Feast prints progress
            store.materialize(START - timedelta(days=1), START + timedelta(days=2))
        online[offline_type] = store.get_online_features(
            features=["driver_stats:rating", "driver_stats:trips"],
            entity_rows=[{"driver_id": driver} for driver in range(8)],
        ).to_dict()

    assert online[PLUGIN_TYPE] == online["duckdb"]
    assert all(value is not None for value in online[PLUGIN_TYPE]["rating"])


@pytest.mark.parametrize(
    "arrow_type",
    [pa.timestamp("ns", tz="Europe/Paris"), pa.timestamp("s"), pa.timestamp("ms", tz="UTC")],
)
def test_offline_writes_take_timestamps_of_any_unit_and_zone(
    tmp_path: Path, arrow_type: pa.DataType
) -> None:
    write_parquet(random_features(14, rows=50, entities=3), tmp_path / "features.parquet")
    store, view = open_store(tmp_path)
    before = pq.read_metadata(tmp_path / "features.parquet").num_rows
    later = START + timedelta(days=10)
    rows = pa.table(
        {
            "driver_id": pa.array([1, 2], pa.int64()),
            "event_timestamp": pa.array([later, later + timedelta(hours=1)], arrow_type),
            "created": pa.array([later, later + timedelta(hours=1)], arrow_type),
            "rating": [0.25, 0.5],
            "trips": pa.array([7, 8], pa.int64()),
        }
    )

    AsofOfflineStore.offline_write_batch(store.config, view, rows, None)
    AsofOfflineStore.offline_write_batch(store.config, view, rows.select([4, 3, 2, 1, 0]), None)

    written = pq.read_table(tmp_path / "features.parquet")
    assert written.num_rows == before + 4
    assert written.schema.field("event_timestamp").type == pa.timestamp("us", tz="UTC")
    frame = store.get_historical_features(
        entity_df=pd.DataFrame(
            {"driver_id": [1, 2], "event_timestamp": [later, later + timedelta(hours=2)]}
        ),
        features=["driver_stats:rating", "driver_stats:trips"],
    ).to_df()
    assert frame["rating"].tolist() == [0.25, 0.5]
    assert frame["trips"].tolist() == [7, 8]


def test_write_to_offline_store_through_feasts_sdk(tmp_path: Path) -> None:
    write_parquet(random_features(15, rows=50, entities=3), tmp_path / "features.parquet")
    store, _ = open_store(tmp_path)
    later = pd.Timestamp(START + timedelta(days=3)).tz_convert("America/New_York")
    rows = pd.DataFrame(
        {
            "driver_id": [2],
            "event_timestamp": [later],
            "created": [later],
            "rating": [9.5],
            "trips": [3],
        }
    )

    store.write_to_offline_store("driver_stats", rows)

    frame = store.get_historical_features(
        entity_df=pd.DataFrame({"driver_id": [2], "event_timestamp": [later]}),
        features=["driver_stats:rating"],
    ).to_df()
    assert frame["rating"].tolist() == [9.5]


def test_monitoring_metrics_are_those_of_feasts_duckdb_store(tmp_path: Path) -> None:
    table = random_features(16, rows=300, entities=6)
    write_parquet(table, tmp_path / "features.parquet")
    store, view = open_store(tmp_path)
    feast_config = store.config.model_copy(update={"offline_store": DuckDBOfflineStoreConfig()})
    columns = [("rating", "numeric"), ("trips", "categorical")]
    source = view.batch_source
    assert source is not None

    ours = AsofOfflineStore.compute_monitoring_metrics(
        store.config, source, columns, "event_timestamp"
    )
    # Feast's DuckDB store wants the format said; ours reads a format-less FileSource as Parquet.
    said = FileSource(
        path=source.path, timestamp_field="event_timestamp", file_format=ParquetFormat()
    )
    theirs = DuckDBOfflineStore.compute_monitoring_metrics(
        feast_config, said, columns, "event_timestamp"
    )
    latest = AsofOfflineStore.get_monitoring_max_timestamp(store.config, source, "event_timestamp")

    assert ours == theirs
    assert {metric["feature_name"] for metric in ours} == {"rating", "trips"}
    assert latest == max(table.column("event_timestamp").to_pylist())


def test_featurestores_own_retrieval_hides_late_rows_whatever_the_repo_default(
    tmp_path: Path,
) -> None:
    write_parquet(random_features(17, rows=300, entities=6), tmp_path / "features.parquet")
    spine = random_spine(17, rows=200, entities=6)
    store, _ = open_store(tmp_path)  # the plugin's default: Feast's, no created-time filter
    refs = ["driver_stats:rating"]

    ours = historical_features(store, pa.Table.from_pandas(spine), refs).table.to_pandas()
    known = store.get_historical_features(
        entity_df=spine, features=refs, filter_by_created_timestamp=True
    ).to_df()
    unfiltered = store.get_historical_features(entity_df=spine, features=refs).to_df()

    assert ours["rating"].fillna(-999).equals(known["rating"].fillna(-999))
    assert not ours["rating"].fillna(-999).equals(unfiltered["rating"].fillna(-999))


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True).astype(
        "datetime64[us, UTC]"
    )
    frame["trips"] = frame["trips"].astype("Float64")
    return frame.sort_values(list(frame.columns), kind="stable").reset_index(drop=True)


def test_feature_logs_written_to_files_and_read_back(tmp_path: Path) -> None:
    write_parquet(random_features(18, rows=50, entities=3), tmp_path / "features.parquet")
    store, view = open_store(tmp_path)
    (tmp_path / "logs").mkdir()  # Feast's log writer wants the folder to exist
    service = FeatureService(
        name="rating_service",
        features=[view[["rating"]]],
        logging_config=LoggingConfig(
            destination=FileLoggingDestination(path=str(tmp_path / "logs"))
        ),
    )
    store.apply([service])
    schema = FeatureServiceLoggingSource(service, store.project).get_schema(store.registry)
    logged_at = START + timedelta(days=1)
    logs = pa.Table.from_pydict(
        {field.name: _log_values(field, logged_at) for field in schema}, schema=schema
    )

    store.write_logged_features(logs=logs.slice(0, 2), source=service)
    store.write_logged_features(logs=logs.slice(2), source=service)
    back = (
        store._get_provider()
        .retrieve_feature_service_logs(
            feature_service=service,
            start_date=logged_at - timedelta(hours=1),
            end_date=logged_at + timedelta(hours=1),
            config=store.config,
            registry=store.registry,
        )
        .to_df()
    )

    assert sorted(back[REQUEST_ID_FIELD]) == [f"request-{i}" for i in range(4)]
    assert sorted(back["driver_stats__rating"]) == [0.0, 0.5, 1.0, 1.5]


def _log_values(field: pa.Field, logged_at: datetime) -> list[object]:
    """Four log rows' values for one column of Feast's feature-log schema."""
    kind = field.type
    if pa.types.is_timestamp(kind):
        return [logged_at] * 4
    if pa.types.is_date(kind):
        return [logged_at.date()] * 4
    if pa.types.is_floating(kind):
        return [i / 2 for i in range(4)]
    if pa.types.is_integer(kind):
        return list(range(4))
    return [f"request-{i}" for i in range(4)]


def test_offline_writes_with_other_columns_are_refused_by_name(tmp_path: Path) -> None:
    write_parquet(random_features(19, rows=20, entities=3), tmp_path / "features.parquet")
    store, view = open_store(tmp_path)
    before = pq.read_metadata(tmp_path / "features.parquet").num_rows
    rows = pa.table({"driver_id": [1], "event_timestamp": [START], "rating": [1.0]})

    with pytest.raises(SourceDataError, match=r"`driver_stats`.*'created', 'driver_id'"):
        AsofOfflineStore.offline_write_batch(store.config, view, rows, None)
    assert pq.read_metadata(tmp_path / "features.parquet").num_rows == before
