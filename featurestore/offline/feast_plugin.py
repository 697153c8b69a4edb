"""A Feast offline store on native DuckDB ASOF joins, selected in feature_store.yaml.

    offline_store:
      type: featurestore.offline.feast_plugin.AsofOfflineStore
      as_known_at: true          # filter_by_created_timestamp on unless a call says (default off)
      memory_limit: 4GB          # DuckDB memory limit (default: DuckDB's, 80% of RAM)
      temp_directory: /tmp/fs    # where DuckDB spills when over the limit
      threads: 2

Feast's API contract holds: `filter_by_created_timestamp` decides per call, off by default, and
`as_known_at: true` makes it on by default for a repo. Sources the engine does not read (Delta,
object storage, other source types), saved-dataset folders, feature logging and monitoring go to
Feast's DuckDB store, whose code the store inherits.
"""

from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import duckdb
import pandas as pd
import pyarrow as pa
from feast import FeatureView, FileSource, OnDemandFeatureView
from feast.data_format import ParquetFormat
from feast.infra.offline_stores.duckdb import DuckDBOfflineStore, DuckDBOfflineStoreConfig
from feast.infra.offline_stores.offline_store import RetrievalJob, RetrievalMetadata
from feast.infra.registry.base_registry import BaseRegistry
from feast.repo_config import RepoConfig
from feast.saved_dataset import SavedDatasetStorage
from pydantic import StrictBool, StrictInt, StrictStr

from featurestore.offline.arrow_io import write_parquet
from featurestore.offline.engine import OfflineEngine, connect
from featurestore.offline.feast_sources import source_of_view, source_table_expression
from featurestore.offline.feast_writes import append_rows, local_parquet_path, persist_table
from featurestore.offline.knowledge import KnowledgeTimeWarning, knowledge_time_report
from featurestore.offline.pit import PointInTimeResult
from featurestore.offline.pit_sql import utc_timestamp_sql
from featurestore.offline.table_queries import latest_rows_sql, rows_in_range_sql
from featurestore.registry import refs_by_view, view_of_ref
from featurestore.sql import quote_ident

logger = logging.getLogger(__name__)

PLUGIN_TYPE = "featurestore.offline.feast_plugin.AsofOfflineStore"


class AsofOfflineStoreConfig(DuckDBOfflineStoreConfig):
    """Settings of the ASOF offline store (`offline_store:` in feature_store.yaml); a kind of
    Feast's DuckDB settings, so the DuckDB store code it inherits accepts them."""

    type: Literal["featurestore.offline.feast_plugin.AsofOfflineStore"] = (
        "featurestore.offline.feast_plugin.AsofOfflineStore"
    )
    """Selects this store."""

    as_known_at: StrictBool = False
    """Hide feature rows created after the entity time when a call does not say otherwise (Feast's
    SDK passes `filter_by_created_timestamp` only when it is true); false is Feast's default."""

    memory_limit: StrictStr | None = None
    """DuckDB memory limit such as `4GB`; unset keeps DuckDB's default."""

    temp_directory: StrictStr | None = None
    """Folder DuckDB spills to when a join exceeds the memory limit."""

    threads: StrictInt | None = None
    """DuckDB worker threads; unset uses every core."""


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
        """`feature_refs` are every ref asked for, on-demand ones included: Feast's `to_arrow`
        reads them from `metadata` to return only the requested on-demand features."""
        self._config = config
        self._feature_views = feature_views
        odfv_names = {odfv.projection.name_to_use() for odfv in odfvs}
        self._all_refs = feature_refs
        self._feature_refs = [ref for ref in feature_refs if view_of_ref(ref) not in odfv_names]
        self._entity_df = entity_df
        self._odfvs = odfvs
        self._full_feature_names = full_feature_names
        self._as_known_at = as_known_at
        self._result: PointInTimeResult | None = None
        self._metadata: RetrievalMetadata | None = None

    @property
    def full_feature_names(self) -> bool:
        return self._full_feature_names

    @property
    def on_demand_feature_views(self) -> list[OnDemandFeatureView]:
        return self._odfvs

    @property
    def metadata(self) -> RetrievalMetadata | None:
        """As Feast's stores give it: every ref, the entity columns and the entity time range."""
        if self._metadata is None:
            self._metadata = self._spine_metadata()
        return self._metadata

    def _spine_metadata(self) -> RetrievalMetadata:
        with connect(self._config.offline_store) as con:
            spine = _spine(self._entity_df)
            event = _event_timestamp_column(spine, con)
            if isinstance(spine, pa.Table):
                columns = list(spine.column_names)
                con.register("__fs_metadata_spine", spine.select([event]))
                relation = "__fs_metadata_spine"
            else:
                columns = list(con.sql(f"SELECT * FROM {spine} LIMIT 0").columns)
                relation = spine
            column = quote_ident(event)
            query = f"SELECT min({column}), max({column}) FROM {relation}"
            row = con.execute(query).fetchone()
        first, last = (_aware(value) for value in row) if row else (None, None)
        return RetrievalMetadata(
            features=list(self._all_refs),
            keys=[name for name in columns if name != event],
            min_event_timestamp=first,
            max_event_timestamp=last,
        )

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
        requested = refs_by_view(self._feature_refs)
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

    def _full_table(self) -> pa.Table:
        """The joined rows with the requested on-demand features, which Feast adds."""
        return self.to_arrow() if self._odfvs else self.result().table

    def to_record_batches(self, max_rows: int = 128 * 1024) -> Iterator[pa.RecordBatch]:
        """The joined rows as Arrow record batches of at most `max_rows` rows."""
        yield from self._full_table().to_batches(max_chunksize=max_rows)

    def to_parquet(self, path: Path) -> int:
        """Write the joined rows straight to Parquet (µs UTC timestamps); returns rows written."""
        return write_parquet(self._full_table(), path)

    def persist(
        self,
        storage: SavedDatasetStorage,
        allow_overwrite: bool = False,
        timeout: int | None = None,
    ) -> None:
        """Save the result where `storage` says: a Parquet file, or Feast's folder layout."""
        repo_path = Path(self._config.repo_path) if self._config.repo_path else None
        persist_table(self._full_table(), storage.to_data_source(), repo_path, allow_overwrite)


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
        filter_by_created_timestamp: bool | None = None,
    ) -> RetrievalJob:
        """The point-in-time join; `filter_by_created_timestamp` unset follows `as_known_at`."""
        if filter_by_created_timestamp is None:
            filter_by_created_timestamp = bool(getattr(config.offline_store, "as_known_at", False))
        repo_path = _repo_path(config)
        if any(local_parquet_path(view.batch_source, repo_path) is None for view in feature_views):
            # Sources the engine does not read (Delta, object storage, other source types):
            # Feast's DuckDB store joins them.
            return DuckDBOfflineStore.get_historical_features(
                config,
                feature_views,
                feature_refs,
                entity_df,
                registry,
                project,
                full_feature_names,
                filter_by_created_timestamp=filter_by_created_timestamp,
            )
        odfvs = OnDemandFeatureView.get_requested_odfvs(feature_refs, project, registry)
        return AsofRetrievalJob(
            config,
            feature_views,
            feature_refs,
            entity_df,
            odfvs,
            full_feature_names,
            filter_by_created_timestamp,
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
        """Per key, the latest row in the range; column names are the source's own, before its
        `field_mapping` (Feast maps the result), as in every Feast offline store."""
        table = _source_expression(config, data_source)
        if table is None:
            return DuckDBOfflineStore.pull_latest_from_table_or_query(
                config,
                data_source,
                join_key_columns,
                feature_name_columns,
                timestamp_field,
                created_timestamp_column,
                start_date,
                end_date,
            )
        with connect(config.offline_store) as con:
            relation = con.sql(f"SELECT * FROM {table} LIMIT 0")
            types = {
                name: str(kind) for name, kind in zip(relation.columns, relation.types, strict=True)
            }
        created = _utc_sql(created_timestamp_column, types) if created_timestamp_column else None
        sql = latest_rows_sql(
            table,
            join_key_columns,
            feature_name_columns,
            event_sql=_utc_sql(timestamp_field, types),
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
        """Every row in the range (saved datasets, feature logs, aggregations); column names as
        in `pull_latest_from_table_or_query`."""
        table = _source_expression(config, data_source)
        if table is None:
            return DuckDBOfflineStore.pull_all_from_table_or_query(
                config,
                data_source,
                join_key_columns,
                feature_name_columns,
                timestamp_field,
                created_timestamp_column,
                start_date,
                end_date,
            )
        sql = rows_in_range_sql(
            table,
            join_key_columns,
            feature_name_columns,
            timestamp_field,
            created_timestamp_column,
            start_date,
            end_date,
        )
        return SqlRetrievalJob(config, sql)

    @staticmethod
    def offline_write_batch(
        config: RepoConfig,
        feature_view: FeatureView,
        table: pa.Table,
        progress: Any,
    ) -> None:
        """Append rows to the view's Parquet source, timestamps of any unit and zone."""
        path = local_parquet_path(feature_view.batch_source, _repo_path(config))
        if path is None or path.is_dir() or not path.exists():
            # Folders, Delta and object storage: Feast's DuckDB store writes them.
            DuckDBOfflineStore.offline_write_batch(config, feature_view, table, progress)
            return
        append_rows(feature_view, table, path)
        if progress is not None:
            progress(table.num_rows)

    @staticmethod
    def compute_monitoring_metrics(
        config: RepoConfig,
        data_source: Any,
        feature_columns: list[tuple[str, str]],
        timestamp_field: str,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        histogram_bins: int = 20,
        top_n: int = 10,
    ) -> list[dict[str, Any]]:
        """Feature statistics, computed by Feast's DuckDB store (delegated)."""
        return DuckDBOfflineStore.compute_monitoring_metrics(
            config,
            _parquet_by_default(data_source),
            feature_columns,
            timestamp_field,
            start_date,
            end_date,
            histogram_bins,
            top_n,
        )

    @staticmethod
    def get_monitoring_max_timestamp(
        config: RepoConfig, data_source: Any, timestamp_field: str
    ) -> datetime | None:
        """The latest event time of a source, from Feast's DuckDB store (delegated)."""
        return DuckDBOfflineStore.get_monitoring_max_timestamp(
            config, _parquet_by_default(data_source), timestamp_field
        )

    # Feature logging (`write_logged_features`) and the monitoring tables (save, query, clear)
    # are Feast's DuckDB store's, inherited: its code accepts this store's settings, a kind of
    # DuckDBOfflineStoreConfig.


def _parquet_by_default(data_source: Any) -> Any:
    """A FileSource without a format is Parquet (as Feast reads it); Feast's monitoring code
    wants the format said."""
    if not isinstance(data_source, FileSource) or data_source.file_format is not None:
        return data_source
    copied = copy.copy(data_source)
    copied.file_options = copy.copy(data_source.file_options)
    copied.file_options.file_format = ParquetFormat()
    return copied


def _repo_path(config: RepoConfig) -> Path | None:
    return Path(config.repo_path) if config.repo_path else None


def _source_expression(config: RepoConfig, data_source: Any) -> str | None:
    """The DuckDB table a pull reads: the local Parquet as stored, without the source's
    `field_mapping` (callers name the source's columns); None for sources DuckDB's store reads."""
    if local_parquet_path(data_source, _repo_path(config)) is None:
        return None
    return source_table_expression(data_source, _repo_path(config), mapped=False)


def _utc_sql(column: str, types: dict[str, str]) -> str:
    """The column as TIMESTAMPTZ (µs), whatever timestamp type or unit the file stores."""
    quoted = quote_ident(column)
    return utc_timestamp_sql(quoted, types.get(column, "")) or quoted


def _aware(value: object) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


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
