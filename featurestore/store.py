"""`featurestore.FeatureStore`: the one Python entry point, a thin facade over the modules.

It holds the settings (repo, data dir, Redis) and the connections made from them, and closes
them as a context manager. Each method hands over to the module that does the work:
`offline.pit` (historical), `training.builder` (training sets), `online.client` (online reads),
`online.materialize` and `catalog.service`. Those stay importable; this is the documented path.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa

from featurestore.errors import ConfigError
from featurestore.settings import Settings, load_settings

if TYPE_CHECKING:
    import feast
    import pandas as pd

    from featurestore.catalog.lineage import Direction, Lineage
    from featurestore.catalog.search import SearchResult
    from featurestore.catalog.service import CatalogService
    from featurestore.online.client import EntityRows, FeatureSelection, OnlineFeatures
    from featurestore.online.connection import RedisClient
    from featurestore.online.materialize import ViewMaterialized
    from featurestore.policy import Decision
    from featurestore.training import SplitSpec, TrainingSetResult

NO_REDIS = (
    "No Redis configured: set FEATURESTORE_REDIS_URL (or pass `redis_url=`), or run "
    "`featurestore demo`"
)
# Feast's config needs an online store even for offline work; nothing connects to this one.
_OFFLINE_ONLY_REDIS = "redis://127.0.0.1:6379/0"

Output = Literal["arrow", "pandas", "batches"]


class FeatureStore:
    """A feature repo with its data dir and Redis: offline, online and catalog in one object.

    >>> with FeatureStore(repo="feature_repo", data_dir="data") as fs:  # doctest: +SKIP
    ...     frame = fs.historical(entity_df, ["customer_daily_stats:orders_7d"], output="pandas")
    """

    def __init__(
        self,
        repo: str | Path | None = None,
        *,
        data_dir: str | Path | None = None,
        redis_url: str | None = None,
        config_file: str | Path | None = None,
    ) -> None:
        """Settings resolve as everywhere: these arguments, then FEATURESTORE_* variables, then
        the config file; the repo must exist (see `featurestore init`)."""
        from featurestore.repo import read_repo_yaml

        self.settings: Settings = load_settings(
            Path(config_file) if config_file is not None else None,
            repo_path=Path(repo) if repo is not None else None,
            data_dir=Path(data_dir) if data_dir is not None else None,
            redis_url=redis_url,
        )
        read_repo_yaml(self.settings.repo_path)
        self._feast: feast.FeatureStore | None = None
        self._redis: RedisClient | None = None
        self._catalog: CatalogAccess | None = None

    def __repr__(self) -> str:
        return (
            f"FeatureStore(repo={str(self.settings.repo_path)!r}, "
            f"data_dir={str(self.settings.data_dir)!r})"
        )

    # Connections -------------------------------------------------------------------------------

    @property
    def feast(self) -> feast.FeatureStore:
        """The underlying `feast.FeatureStore` over this repo's registry and Redis."""
        if self._feast is None:
            from featurestore.repo import open_store

            self._feast = open_store(self.settings, self.settings.redis_url or _OFFLINE_ONLY_REDIS)
        return self._feast

    @property
    def redis(self) -> RedisClient:
        """The client of the configured Redis; refused when none is configured."""
        if self._redis is None:
            from featurestore.online.connection import connect

            self._redis = connect(self._redis_url())
        return self._redis

    def _redis_url(self) -> str:
        if not self.settings.redis_url:
            raise ConfigError("redis_url", None, NO_REDIS)
        return self.settings.redis_url

    def close(self) -> None:
        """Close the connections this object opened."""
        if self._redis is not None:
            self._redis.close()
            self._redis = None
        self._feast = None
        self._catalog = None

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # Offline -----------------------------------------------------------------------------------

    def historical(
        self,
        entity_df: pd.DataFrame | pa.Table | str | Path,
        features: str | Sequence[str],
        *,
        event_timestamp_column: str = "event_timestamp",
        as_known_at: bool = True,
        purpose: str = "training",
        output: Output = "arrow",
    ) -> pa.Table | pd.DataFrame | Iterator[pa.RecordBatch]:
        """Point-in-time correct features for each entity row (a pandas frame, an Arrow table,
        a Parquet path or a DuckDB SQL query), as Arrow, pandas or record batches.

        `purpose` must be allowed by the rights of every feature, as for training sets."""
        from featurestore.offline.arrow_io import utc_microseconds
        from featurestore.offline.engines import open_engine
        from featurestore.registry import Registry

        store = self.feast
        registry = Registry(store)
        resolved = registry.resolve(features)
        registry.policy().check(purpose, resolved.refs, resolved.service_name).raise_if_denied()
        spine: pa.Table | str
        if isinstance(entity_df, pa.Table):
            spine = utc_microseconds(entity_df)
        elif isinstance(entity_df, Path) or str(entity_df).strip().lower().endswith(".parquet"):
            spine = f"read_parquet('{str(entity_df).replace(chr(39), chr(39) * 2)}')"
        elif isinstance(entity_df, str):
            spine = f"({entity_df})"
        else:
            spine = utc_microseconds(pa.Table.from_pandas(entity_df, preserve_index=False))
        engine = open_engine(store)
        try:
            table = engine.historical_features(
                spine,
                [view.view_source() for view in resolved.views],
                event_timestamp_column=event_timestamp_column,
                as_known_at=as_known_at,
            ).table
        finally:
            engine.close()
        if output == "pandas":
            return table.to_pandas()
        if output == "batches":
            return iter(table.to_batches())
        return table

    def training_set(
        self,
        name: str,
        features: str | Sequence[str],
        spine: str | Path | pa.Table,
        label: str,
        *,
        event_timestamp_column: str = "event_timestamp",
        split: str | SplitSpec = "0.7,0.15,0.15",
        group_key: str | None = None,
        purpose: str = "training",
        as_known_at: bool = True,
        allow_invalid: bool = False,
    ) -> TrainingSetResult:
        """Train/validation/test Parquet splits and a manifest under `<data dir>/training/name`,
        as `featurestore training-set` writes them. Views whose sources fail validation are
        refused unless `allow_invalid`."""
        from featurestore.training import SplitSpec, TrainingSetRequest, build_training_set

        request = TrainingSetRequest(
            name=name,
            features=features,
            spine=spine,
            label=label,
            event_timestamp_column=event_timestamp_column,
            split=SplitSpec.parse(split) if isinstance(split, str) else split,
            group_key=group_key,
            purpose=purpose,
            as_known_at=as_known_at,
            allow_invalid=allow_invalid,
        )
        return build_training_set(
            self.feast,
            request,
            self.settings.data_dir / "training",
            data_dir=self.settings.data_dir,
        )

    # Online ------------------------------------------------------------------------------------

    def online(
        self, features: FeatureSelection, entity_rows: EntityRows, *, purpose: str = "serving"
    ) -> OnlineFeatures:
        """Online values from Redis with their status and event time, for a stated purpose."""
        from featurestore.online.client import OnlineClient

        self._redis_url()
        return OnlineClient(self.feast, self.redis, purpose=purpose).get(features, entity_rows)

    def materialize(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        views: Sequence[str] | None = None,
        allow_invalid: bool = False,
    ) -> list[ViewMaterialized]:
        """Latest value per entity with event time in [start, end] into Redis; without `start`,
        each view continues from its last recorded run. Refused without a configured Redis, and
        for views whose sources fail validation unless `allow_invalid`."""
        from featurestore.online.materialize import materialize, materialize_incremental

        self._redis_url()
        until = end or datetime.now(UTC)
        if start is None:
            return materialize_incremental(
                self.feast, self.redis, until, views=views, allow_invalid=allow_invalid
            )
        return materialize(
            self.feast, self.redis, start, until, views=views, allow_invalid=allow_invalid
        )

    # Catalog -----------------------------------------------------------------------------------

    @property
    def catalog(self) -> CatalogAccess:
        """Search, lineage and rights checks over what this repo registered."""
        if self._catalog is None:
            from featurestore.catalog.service import CatalogService

            self._catalog = CatalogAccess(
                CatalogService(self.settings, self.settings.redis_url or _OFFLINE_ONLY_REDIS)
            )
        return self._catalog


class CatalogAccess:
    """The catalog's questions in Python: the same answers as `/catalog` over HTTP."""

    def __init__(self, service: CatalogService) -> None:
        self.service = service

    def search(
        self, query: str = "", *, page: int = 1, page_size: int = 20, **filters: Any
    ) -> SearchResult:
        """Ranked features matching `query`; filters: entity, owner, tag, purpose, pii, kind."""
        from featurestore.catalog.search import SearchFilters

        return self.service.search(query, SearchFilters(**filters), page, page_size)

    def lineage(
        self, kind: str, name: str, *, direction: Direction = "both", depth: int = 2
    ) -> Lineage:
        """Sources → views → services → training sets → models around one object."""
        from featurestore.catalog.entries import ObjectKind

        return self.service.lineage(ObjectKind(kind), name, direction, depth)

    def check_rights(self, purpose: str, features: Sequence[str]) -> Decision:
        """Whether `purpose` is allowed for every `view:feature`, naming the term that forbids."""
        return self.service.check(purpose, list(features))
