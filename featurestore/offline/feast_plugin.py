"""A Feast offline store on native DuckDB ASOF joins, selected in feature_store.yaml.

    offline_store:
      type: featurestore.offline.feast_plugin.AsofOfflineStore
      as_known_at: true          # only rows whose created time is <= the entity time
      memory_limit: 4GB          # DuckDB memory limit (default: DuckDB's, 80% of RAM)
      temp_directory: /tmp/fs    # where DuckDB spills when over the limit
      threads: 2

Everything not overridden here (writes, logging, monitoring) is Feast's DuckDB store.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import duckdb
import pandas as pd
import pyarrow as pa
from feast import FeatureView, OnDemandFeatureView
from feast.infra.offline_stores.duckdb import DuckDBOfflineStore
from feast.infra.offline_stores.offline_store import RetrievalJob, RetrievalMetadata
from feast.infra.registry.base_registry import BaseRegistry
from feast.repo_config import FeastConfigBaseModel, RepoConfig
from feast.saved_dataset import SavedDatasetStorage
from pydantic import StrictBool, StrictInt, StrictStr

from featurestore.offline.arrow_io import write_parquet
from featurestore.offline.engine import OfflineEngine, connect
from featurestore.offline.feast_sources import source_of_view
from featurestore.offline.knowledge import KnowledgeTimeWarning, knowledge_time_report
from featurestore.offline.pit import PointInTimeResult
from featurestore.offline.table_queries import latest_rows_sql, rows_in_range_sql
from featurestore.sql import quote_ident

logger = logging.getLogger(__name__)

PLUGIN_TYPE = "featurestore.offline.feast_plugin.AsofOfflineStore"


class AsofOfflineStoreConfig(FeastConfigBaseModel):
    """Settings of the ASOF offline store (`offline_store:` in feature_store.yaml)."""

    type: Literal["featurestore.offline.feast_plugin.AsofOfflineStore"] = (
        "featurestore.offline.feast_plugin.AsofOfflineStore"
    )
    """Selects this store."""

    as_known_at: StrictBool = True
    """Hide feature rows created after the entity time; Feast's flag can only switch it on."""

    memory_limit: StrictStr | None = None
    """DuckDB memory limit such as `4GB`; unset keeps DuckDB's default."""

    temp_directory: StrictStr | None = None
    """Folder DuckDB spills to when a join exceeds the memory limit."""

    threads: StrictInt | None = None
    """DuckDB worker threads; unset uses every core."""

    staging_location: StrictStr | None = None
    """Kept for Feast's DuckDB store, which handles writes."""

    staging_location_endpoint_override: StrictStr | None = None
    """Kept for Feast's DuckDB store, which handles writes."""


class AsofRetrievalJob(RetrievalJob):
    """A point-in-time join that runs when its result is first asked for."""

    def __init__(
        self,
        config: RepoConfig,
        feature_views: list[FeatureView],
        feature_refs: list[str],
        entity_df: pd.DataFrame | str,
        odfvs: list[OnDemandFeatureView],
        full_feature_names: bool,
        as_known_at: bool,
    ) -> None:
        self._config = config
        self._feature_views = feature_views
        self._feature_refs = feature_refs
        self._entity_df = entity_df
        self._odfvs = odfvs
        self._full_feature_names = full_feature_names
        self._as_known_at = as_known_at
        self._result: PointInTimeResult | None = None

    @property
    def full_feature_names(self) -> bool:
        return self._full_feature_names

    @property
    def on_demand_feature_views(self) -> list[OnDemandFeatureView]:
        return self._odfvs

    @property
    def metadata(self) -> RetrievalMetadata | None:
        keys = sorted({c.name for view in self._feature_views for c in view.entity_columns})
        return RetrievalMetadata(features=self._feature_refs, keys=keys)

    @property
    def hidden_by_knowledge_time(self) -> dict[str, int]:
        """Per view, the entity rows whose value the created-time rule hid or replaced."""
        return dict(self.result().hidden_by_knowledge_time)

    def result(self) -> PointInTimeResult:
        """Run the join once and keep its result with its knowledge-time report."""
        if self._result is None:
            self._result = self._run()
        return self._result

    def _run(self) -> PointInTimeResult:
        repo_path = Path(self._config.repo_path) if self._config.repo_path else None
        requested: dict[str, list[str]] = {}
        for ref in self._feature_refs:
            view_name, _, feature = ref.partition(":")
            requested.setdefault(view_name, []).append(feature)
        sources = [
            source_of_view(view, requested[name], repo_path)
            for view in self._feature_views
            if (name := view.projection.name_to_use()) in requested
        ]
        with OfflineEngine(self._config.offline_store) as engine:
            spine = _spine(self._entity_df)
            result = engine.historical_features(
                spine,
                sources,
                event_timestamp_column=_event_timestamp_column(spine, engine.connection),
                as_known_at=self._as_known_at,
                full_feature_names=self._full_feature_names,
            )
        for message in knowledge_time_report(result, sources).warnings:
            warnings.warn(message, KnowledgeTimeWarning, stacklevel=2)
            logger.warning(message)
        return result

    def _to_arrow_internal(self, timeout: int | None = None) -> pa.Table:
        return self.result().table

    def _to_df_internal(self, timeout: int | None = None) -> pd.DataFrame:
        return self.result().table.to_pandas()

    def to_record_batches(self, max_rows: int = 128 * 1024) -> Iterator[pa.RecordBatch]:
        """The joined rows as Arrow record batches of at most `max_rows` rows."""
        yield from self.result().table.to_batches(max_chunksize=max_rows)

    def to_parquet(self, path: Path) -> int:
        """Write the joined rows straight to Parquet (µs UTC timestamps); returns rows written."""
        return write_parquet(self.result().table, path)

    def persist(
        self,
        storage: SavedDatasetStorage,
        allow_overwrite: bool = False,
        timeout: int | None = None,
    ) -> None:
        destination = Path(storage.to_data_source().path)  # type: ignore[attr-defined]
        if destination.exists() and not allow_overwrite:
            from feast.errors import SavedDatasetLocationAlreadyExists

            raise SavedDatasetLocationAlreadyExists(location=str(destination))
        self.to_parquet(destination)


class SqlRetrievalJob(RetrievalJob):
    """Rows selected by one DuckDB query over a Parquet source (materialization input)."""

    def __init__(self, config: RepoConfig, sql: str, full_feature_names: bool = False) -> None:
        self._config = config
        self._sql = sql
        self._full_feature_names = full_feature_names

    @property
    def full_feature_names(self) -> bool:
        return self._full_feature_names

    @property
    def on_demand_feature_views(self) -> list[OnDemandFeatureView]:
        return []

    def to_sql(self) -> str:
        return self._sql

    def _to_arrow_internal(self, timeout: int | None = None) -> pa.Table:
        with connect(self._config.offline_store) as con:
            # Feast converts only the first record batch of what it gets: hand it one chunk.
            return con.sql(self._sql).to_arrow_table().combine_chunks()

    def _to_df_internal(self, timeout: int | None = None) -> pd.DataFrame:
        return self._to_arrow_internal(timeout).to_pandas()


class AsofOfflineStore(DuckDBOfflineStore):
    """Feast's DuckDB offline store with point-in-time joins and pulls done by featurestore."""

    supports_filter_by_created_timestamp = True

    @staticmethod
    def get_historical_features(
        config: RepoConfig,
        feature_views: list[FeatureView],
        feature_refs: list[str],
        entity_df: pd.DataFrame | str,
        registry: BaseRegistry,
        project: str,
        full_feature_names: bool = False,
        filter_by_created_timestamp: bool = False,
    ) -> RetrievalJob:
        odfvs = OnDemandFeatureView.get_requested_odfvs(feature_refs, project, registry)
        odfv_names = {odfv.name for odfv in odfvs}
        view_refs = [ref for ref in feature_refs if ref.partition(":")[0] not in odfv_names]
        as_known_at = bool(getattr(config.offline_store, "as_known_at", True))
        return AsofRetrievalJob(
            config,
            feature_views,
            view_refs,
            entity_df,
            odfvs,
            full_feature_names,
            as_known_at or filter_by_created_timestamp,
        )

    @staticmethod
    def pull_latest_from_table_or_query(
        config: RepoConfig,
        data_source: Any,
        join_key_columns: list[str],
        feature_name_columns: list[str],
        timestamp_field: str,
        created_timestamp_column: str | None,
        start_date: datetime,
        end_date: datetime,
    ) -> RetrievalJob:
        created = quote_ident(created_timestamp_column) if created_timestamp_column else None
        sql = latest_rows_sql(
            _source_expression(config, data_source),
            join_key_columns,
            feature_name_columns,
            event_sql=quote_ident(timestamp_field),
            created_sql=created,
            start=start_date,
            end=end_date,
            event_name=timestamp_field,
            created_name=created_timestamp_column,
        )
        return SqlRetrievalJob(config, sql)

    @staticmethod
    def pull_all_from_table_or_query(
        config: RepoConfig,
        data_source: Any,
        join_key_columns: list[str],
        feature_name_columns: list[str],
        timestamp_field: str,
        created_timestamp_column: str | None = None,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
    ) -> RetrievalJob:
        sql = rows_in_range_sql(
            _source_expression(config, data_source),
            join_key_columns,
            feature_name_columns,
            timestamp_field,
            created_timestamp_column,
            start_date,
            end_date,
        )
        return SqlRetrievalJob(config, sql)


def _source_expression(config: RepoConfig, data_source: Any) -> str:
    from featurestore.offline.feast_sources import source_table_expression

    repo_path = Path(config.repo_path) if config.repo_path else None
    return source_table_expression(data_source, repo_path)


def _spine(entity_df: pd.DataFrame | str) -> pa.Table | str:
    if isinstance(entity_df, pd.DataFrame):
        return pa.Table.from_pandas(entity_df, preserve_index=False)
    text = entity_df.strip()
    if text.lower().endswith(".parquet") and Path(text).exists():
        return f"read_parquet('{text}')"
    return f"({text})"


def _event_timestamp_column(spine: pa.Table | str, con: duckdb.DuckDBPyConnection) -> str:
    """`event_timestamp` if present, else the entity dataframe's only timestamp column."""
    if isinstance(spine, pa.Table):
        schema = spine.schema
        names = schema.names
        timestamps = [f.name for f in schema if pa.types.is_timestamp(f.type)]
    else:
        relation = con.sql(f"SELECT * FROM {spine} LIMIT 0")
        names = list(relation.columns)
        timestamps = [
            n for n, t in zip(names, relation.types, strict=True) if "TIMESTAMP" in str(t)
        ]
    if "event_timestamp" in names or len(timestamps) != 1:
        return "event_timestamp"
    return timestamps[0]
