"""The offline engine on Spark, through Feast's Spark offline store (`offline_store: {type:
spark}`): point-in-time joins by Feast's `get_historical_features` (whose
`filter_by_created_timestamp` is the "as known at" rule) and the latest row per key by Feast's
`pull_latest_from_table_or_query`.

The repo keeps its FileSource definitions: each source is read by Spark into a temporary view
(field mapping applied) and handed to Feast as a SparkSource of that view, together with a
feature view built from our `ViewSource`, so projections, join-key maps, ttl and the knowledge
time tag mean the same as on DuckDB. Feast's answer comes back in no particular order and, on
exact ties (same key, event and created time), once per tied row: each spine row carries its
position through the join and keeps its first answer. Feast returns no feature times, so the
event and created time of the chosen row ride along as two extra features.

Imported only when a repo selects Spark: it imports pyspark (the `spark` extra).
"""

from __future__ import annotations

import contextlib
import io
import uuid
import warnings
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, cast

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from feast import Entity, FeatureView, Field
from feast.infra.offline_stores.contrib.spark_offline_store.spark import (
    SparkOfflineStore,
    SparkRetrievalJob,
)
from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource
from feast.infra.offline_stores.offline_store import RetrievalJob
from feast.infra.registry.base_registry import BaseRegistry
from feast.repo_config import RepoConfig
from feast.types import Float64, String
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from featurestore.errors import RetrievalError
from featurestore.offline.arrow_io import utc_microseconds
from featurestore.offline.pit import PointInTimeResult
from featurestore.offline.session import connect
from featurestore.offline.source import ViewSource

ENGINE_NAME = "Feast Spark offline store"

REQUIRED_CONF = {
    # Without it Spark returns timestamps in the process's local wall time and shifts the
    # bounds of `pull_latest_from_table_or_query`.
    "spark.sql.session.timeZone": "UTC",
    # Spine rows go to Spark and results come back as Arrow, not row by row.
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}
DEFAULT_CONF = {
    "spark.master": "local[*]",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
}

_ROW = "__fs_row"
_SPINE_TIME = "event_timestamp"
_EVENT = "__fs_event_time"
_CREATED = "__fs_created_time"
_UTC_US = pa.timestamp("us", tz="UTC")


def spark_session(offline_store: Any) -> SparkSession:
    """The active Spark session, or one started from `spark_conf` over our defaults; either way
    with the settings correctness needs (UTC session time zone, Arrow transfers)."""
    session = SparkSession.getActiveSession()
    if session is None:
        conf = {**DEFAULT_CONF, **(getattr(offline_store, "spark_conf", None) or {})}
        builder = SparkSession.builder
        for key, value in {**conf, **REQUIRED_CONF}.items():
            builder = builder.config(key, value)
        session = builder.getOrCreate()
    for key, value in REQUIRED_CONF.items():
        session.conf.set(key, value)
    return session


class SparkEngine:
    """Historical retrieval and latest rows per key through Feast's Spark offline store."""

    name: str = ENGINE_NAME
    packages: tuple[str, ...] = ("pyspark",)

    def __init__(self, config: RepoConfig, registry: BaseRegistry, project: str) -> None:
        self._config = config
        self._registry = registry
        self._project = project
        self._views: list[str] = []
        self._session: SparkSession | None = None

    def __enter__(self) -> SparkEngine:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def session(self) -> SparkSession:
        if self._session is None:
            self._session = spark_session(self._config.offline_store)
        return self._session

    def close(self) -> None:
        """Drop the temporary views the engine registered; the session stays up for reuse."""
        if self._session is not None:
            for view in self._views:
                self._session.catalog.dropTempView(view)
        self._views.clear()

    def historical_features(
        self,
        spine: pa.Table | str,
        views: Sequence[ViewSource],
        *,
        event_timestamp_column: str = "event_timestamp",
        as_known_at: bool = True,
        full_feature_names: bool = False,
        with_feature_times: bool = False,
    ) -> PointInTimeResult:
        """Each spine row, in spine order, with per view the features as known at its time."""
        if not isinstance(spine, pa.Table):
            spine = _read_spine(spine)
        spine_keys = list(dict.fromkeys(key for view in views for key in view.spine_keys))
        _check_spine(spine, spine_keys, event_timestamp_column, views)
        output_names = _output_names(views, spine.column_names, full_feature_names)
        entity_df = _entity_frame(spine, spine_keys, event_timestamp_column)
        with _quiet():
            feature_views = [self._feature_view(view) for view in views]

        chosen = self._join(feature_views, views, entity_df, as_known_at, with_values=True)
        table = spine
        times: dict[str, tuple[pa.ChunkedArray, pa.ChunkedArray]] = {}
        for view, names in zip(views, output_names, strict=True):
            for feature, name in zip(view.features, names, strict=True):
                table = table.append_column(name, chosen.column(f"{view.name}__{feature}"))
            times[view.name] = _times(chosen, view)
        hidden = dict.fromkeys((view.name for view in views), 0)
        ruled = [view for view in views if view.created_timestamp_field]
        if as_known_at and ruled:
            # Feast reports nothing about what the rule changed: the rows it hid are those where
            # the row chosen without the rule is another row (the DuckDB engine's definition).
            plain = self._join(feature_views, views, entity_df, False, with_values=False)
            for view in ruled:
                hidden[view.name] = _changed(times[view.name], _times(plain, view))
        return PointInTimeResult(
            table=table,
            hidden_by_knowledge_time=hidden,
            feature_times=times if with_feature_times else {},
        )

    def latest(
        self,
        source: ViewSource,
        start: datetime,
        end: datetime,
        *,
        event_timestamp_column: str = "event_timestamp",
    ) -> pa.Table:
        """Per key, the row with the latest (event, created) time in [start, end]."""
        with _quiet():
            spark_source = self._spark_source(source)
            job = SparkOfflineStore.pull_latest_from_table_or_query(
                self._config,
                spark_source,
                list(source.join_keys),
                list(source.features),
                source.timestamp_field,
                source.created_timestamp_field,
                start,
                end,
            )
            table = _to_arrow(job, f"Reading the latest rows of `{source.name}`")
        # Feast keeps rows with a null key; there is no online key to write them under.
        for key in source.join_keys:
            table = table.filter(pc.is_valid(table.column(key)))
        columns = [table.column(name) for name in (*source.join_keys, *source.features)]
        event = pc.cast(table.column(source.timestamp_field), _UTC_US)
        return pa.table(
            [*columns, event], names=[*source.join_keys, *source.features, event_timestamp_column]
        )

    def _join(
        self,
        feature_views: list[FeatureView],
        views: Sequence[ViewSource],
        entity_df: Any,
        filter_by_created_timestamp: bool,
        *,
        with_values: bool,
    ) -> pa.Table:
        """Feast's point-in-time join, one row per spine row in spine order, every column
        named `view__feature` (the times as `view____fs_event_time` and so on)."""
        refs = []
        for view in views:
            names = [*view.features] if with_values else []
            names += [_EVENT, _CREATED] if view.created_timestamp_field else [_EVENT]
            refs += [f"{view.name}:{name}" for name in names]
        with _quiet():
            job = SparkOfflineStore.get_historical_features(
                config=self._config,
                feature_views=feature_views,
                feature_refs=refs,
                entity_df=entity_df.copy(),
                registry=self._registry,
                project=self._project,
                full_feature_names=True,
                filter_by_created_timestamp=filter_by_created_timestamp,
            )
            answer = _to_arrow(job, "The point-in-time join on Spark")
        return _one_per_row(answer, len(entity_df))

    def _feature_view(self, view: ViewSource) -> FeatureView:
        """A Feast feature view over the source's Spark view, with the time copies as features."""
        features = [*view.features, _EVENT]
        if view.created_timestamp_field:
            features.append(_CREATED)
        feature_view = FeatureView(
            name=view.name,
            entities=[Entity(name=f"__fs_{key}", join_keys=[key]) for key in view.join_keys],
            ttl=view.ttl or timedelta(0),
            schema=[
                *(Field(name=key, dtype=String) for key in view.join_keys),
                *(Field(name=name, dtype=Float64) for name in features),
            ],
            source=self._spark_source(view),
        )
        if view.spine_join_keys:
            feature_view.projection.join_key_map = dict(
                zip(view.join_keys, view.spine_join_keys, strict=True)
            )
        return feature_view

    def _spark_source(self, view: ViewSource) -> SparkSource:
        """A SparkSource over a temporary view of the source's rows, renames applied and its
        event and created times copied to the columns the join returns as features."""
        location = view.location
        if location.path is None:
            raise RetrievalError(
                f"Feature view `{view.name}` reads `{location.expression}`, a DuckDB relation; "
                "the Spark engine reads FileSource paths."
            )
        try:
            frame: DataFrame = self.session.read.parquet(location.path)
        except Exception as exc:
            raise RetrievalError(
                f"Spark cannot read the source of feature view `{view.name}` "
                f"(`{location.path}`): {_first_line(exc)}. Run `featurestore ingest` or fix the "
                "source path."
            ) from exc
        if location.renames:
            frame = frame.withColumnsRenamed(dict(location.renames))
        missing = [
            name
            for name in dict.fromkeys(
                [*view.join_keys, *view.features, view.timestamp_field]
                + ([view.created_timestamp_field] if view.created_timestamp_field else [])
            )
            if name not in frame.columns
        ]
        if missing:
            raise RetrievalError(
                f"The source `{location.path}` of feature view `{view.name}` has no column(s) "
                f"{', '.join(f'`{name}`' for name in missing)}; its columns are "
                f"{', '.join(f'`{name}`' for name in frame.columns)}. Fix the view definition."
            )
        frame = frame.withColumn(_EVENT, F.col(view.timestamp_field))
        if view.created_timestamp_field:
            frame = frame.withColumn(_CREATED, F.col(view.created_timestamp_field))
        table = f"__fs_source_{uuid.uuid4().hex}"
        frame.createOrReplaceTempView(table)
        self._views.append(table)
        return SparkSource(
            name=table,
            table=table,
            timestamp_field=view.timestamp_field,
            created_timestamp_column=view.created_timestamp_field or "",
        )


def _check_spine(
    spine: pa.Table, spine_keys: list[str], event: str, views: Sequence[ViewSource]
) -> None:
    if event not in spine.column_names:
        raise RetrievalError(
            f"The entity dataframe has no `{event}` column; pass the name of its event time "
            "column as `event_timestamp_column`."
        )
    for key in spine_keys:
        if key not in spine.column_names:
            users = ", ".join(f"`{view.name}`" for view in views if key in view.spine_keys)
            raise RetrievalError(
                f"The entity dataframe has no `{key}` column, a join key of feature view(s) "
                f"{users}; add it to the entity dataframe."
            )
        if key in (_ROW, _SPINE_TIME) and key != event:
            raise RetrievalError(
                f"Join key `{key}` is a name the Spark engine uses itself; map it to another "
                "name with the feature view's `join_key_map`."
            )


def _read_spine(expression: str) -> pa.Table:
    """The entity rows of a DuckDB table expression (a Parquet file, a query), in memory."""
    with connect() as con:
        try:
            return utc_microseconds(con.sql(f"SELECT * FROM {expression}").to_arrow_table())
        except duckdb.Error as exc:
            raise RetrievalError(
                f"Cannot read the entity dataframe `{expression}`: {exc}. Pass an Arrow table or "
                "a DuckDB table expression such as `read_parquet('/path/entities.parquet')`."
            ) from exc


def _output_names(
    views: Sequence[ViewSource], spine_columns: list[str], full_feature_names: bool
) -> list[list[str]]:
    """The output name of every feature, refusing any name that would appear twice."""
    taken = set(spine_columns)
    result = []
    for view in views:
        names = []
        for feature in view.features:
            name = f"{view.name}__{feature}" if full_feature_names else feature
            if name in taken:
                raise RetrievalError(
                    f"Feature `{feature}` of view `{view.name}` would be output as `{name}`, "
                    "which is already taken; pass `full_feature_names=True` or rename it."
                )
            taken.add(name)
            names.append(name)
        result.append(names)
    return result


def _entity_frame(spine: pa.Table, keys: list[str], event: str) -> Any:
    """The spine's keys, its time as `event_timestamp` (UTC) and each row's position, as pandas:
    Feast then takes the entity time range in UTC (a Spark frame would give local wall time)."""
    columns = [spine.column(key) for key in keys]
    columns += [pc.cast(spine.column(event), _UTC_US), pa.array(np.arange(spine.num_rows))]
    return pa.table(columns, names=[*keys, _SPINE_TIME, _ROW]).to_pandas()


def _to_arrow(job: RetrievalJob, what: str) -> pa.Table:
    """Run Feast's Spark query and collect its answer as Arrow (Feast's own `to_arrow` goes
    through pandas, which turns integers with nulls into floats)."""
    try:
        return cast(SparkRetrievalJob, job).to_spark_df().toArrow()
    except Exception as exc:
        raise RetrievalError(f"{what} failed: {_first_line(exc)}") from exc


def _one_per_row(answer: pa.Table, rows: int) -> pa.Table:
    """Feast's answer sorted by spine position, keeping the first of tied answers per row."""
    answer = answer.sort_by(_ROW)
    positions = answer.column(_ROW).to_numpy()
    first = np.ones(len(positions), dtype=bool)
    first[1:] = positions[1:] != positions[:-1]
    answer = answer.filter(pa.array(first))
    if answer.num_rows != rows:
        raise RetrievalError(
            f"The Spark join returned {answer.num_rows} of {rows} entity rows. Report this as "
            "a bug."
        )
    return answer


def _times(answer: pa.Table, view: ViewSource) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    event = pc.cast(answer.column(f"{view.name}__{_EVENT}"), _UTC_US)
    if view.created_timestamp_field:
        created = pc.cast(answer.column(f"{view.name}__{_CREATED}"), _UTC_US)
    else:
        created = pa.chunked_array([pa.nulls(answer.num_rows, _UTC_US)])
    return event, created


def _changed(
    mine: tuple[pa.ChunkedArray, pa.ChunkedArray], other: tuple[pa.ChunkedArray, pa.ChunkedArray]
) -> int:
    """Rows whose (event, created) pair differs, nulls equal to nulls."""
    differs = None
    for a, b in zip(mine, other, strict=True):
        distinct = pc.or_(
            pc.xor(pc.is_null(a), pc.is_null(b)), pc.fill_null(pc.not_equal(a, b), False)
        )
        differs = distinct if differs is None else pc.or_(differs, distinct)
    return int(pc.sum(differs).as_py() or 0) if differs is not None else 0


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Feast's Spark store prints progress and warns that it is experimental on every call."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", DeprecationWarning)  # entities without a value type
        yield
