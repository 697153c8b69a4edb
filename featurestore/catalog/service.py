"""The catalog as one object: registry snapshot, search, lineage, rights, coverage, registration.

Reads use an immutable snapshot rebuilt when the metadata version (registry file and catalog
store, see `registered.MetadataVersion`) or a training-set manifest changes; no timer is
involved, so a change by any process shows on the next request. Metadata writes go to the
registered layer, never to the Feast registry.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from types import SimpleNamespace

import pyarrow as pa
from feast import FeatureStore

from featurestore.catalog.coverage import CoverageSpec, ViewStats, compute_view_stats
from featurestore.catalog.coverage_cache import CoverageCache
from featurestore.catalog.entries import (
    Catalog,
    Consumers,
    FeatureEntry,
    ModelEntry,
    ObjectKind,
    TrainingSetEntry,
    ViewEntry,
)
from featurestore.catalog.freshness import OnlineFreshness, online_freshness
from featurestore.catalog.ledger import AuditEntry, Ledger
from featurestore.catalog.lineage import Direction, Lineage, LineageGraph
from featurestore.catalog.manifests import manifests_fingerprint, read_training_sets
from featurestore.catalog.pit_coverage import PointInTimeCoverage, point_in_time_coverage
from featurestore.catalog.quality import FeatureQuality, feature_quality
from featurestore.catalog.registered import (
    MetadataVersion,
    RegisteredStore,
    catalog_path,
)
from featurestore.catalog.registration import MetadataUpdate, MetadataWriter, UpdateResult
from featurestore.catalog.search import SearchFilters, SearchIndex, SearchResult
from featurestore.catalog.snapshot import build_catalog
from featurestore.catalog.sources import SourceFiles
from featurestore.errors import FeatureStoreError, ObjectNotFoundError, RegistryMissingError
from featurestore.offline.engines import SPARK_TYPE
from featurestore.online.connection import connect
from featurestore.policy import Decision, EffectiveRights, Policy
from featurestore.repo import open_store, policy_for_store, read_repo_yaml
from featurestore.settings import Settings


@dataclass(frozen=True)
class Snapshot:
    """One consistent read view of the catalog."""

    catalog: Catalog
    policy: Policy
    index: SearchIndex
    consumers: Consumers
    graph: LineageGraph


class CatalogService:
    """Everything the catalog API and pages ask, for one settings object and one Redis."""

    def __init__(self, settings: Settings, redis_url: str) -> None:
        self.settings = settings
        self._redis_url = redis_url
        self._lock = threading.RLock()
        self._store: FeatureStore | None = None
        self._ledger: Ledger | None = None
        self._registered: RegisteredStore | None = None
        self._version: MetadataVersion | None = None
        self._registry_key: tuple[int, ...] | None = None
        self._registry_part: tuple[Catalog, Policy, SearchIndex] | None = None
        self._consumers_key: object = None
        self._snapshot: Snapshot | None = None
        # Freshness is a side panel: one quick retry, not redis-py's default backoff (~10 s).
        self._redis = connect(redis_url)
        self.coverage_cache = CoverageCache(
            settings.data_dir / "catalog" / "coverage", compute=self._compute_coverage
        )

    @property
    def ledger(self) -> Ledger:
        with self._lock:
            if self._ledger is None:
                self._ledger = Ledger(catalog_path(self.settings.data_dir))
            return self._ledger

    @property
    def registered(self) -> RegisteredStore:
        """The registered metadata layer."""
        with self._lock:
            if self._registered is None:
                self._registered = RegisteredStore(self.ledger)
            return self._registered

    def metadata_version(self) -> tuple[int, ...]:
        """Changes with every change of definitions or registered metadata, in any process."""
        with self._lock:
            if self._version is None:
                self._version = MetadataVersion(self.settings.data_dir)
        return self._version.current()

    def snapshot(self) -> Snapshot:
        """The current snapshot, rebuilt only if definitions, metadata or manifests changed."""
        self._registry_stat()
        registry_key = self.metadata_version()
        consumers_key = (manifests_fingerprint(self.settings.data_dir), self.ledger.version())
        with self._lock:
            if self._registry_key != registry_key or self._registry_part is None:
                store = self._open_store()
                store.refresh_registry()
                layer = self.registered.layer()
                catalog = build_catalog(store, layer)
                self._registry_part = (
                    catalog,
                    policy_for_store(store, layer),
                    SearchIndex(catalog.features.values()),
                )
                self._registry_key = registry_key
                self._snapshot = None
            if self._snapshot is None or self._consumers_key != consumers_key:
                catalog, policy, index = self._registry_part
                consumers = self._consumers(policy)
                graph = LineageGraph.build(catalog, consumers)
                self._snapshot = Snapshot(catalog, policy, index, consumers, graph)
                self._consumers_key = consumers_key
            return self._snapshot

    # Lookups ---------------------------------------------------------------------------------

    def search(self, query: str, filters: SearchFilters, page: int, page_size: int) -> SearchResult:
        """One page of ranked features matching `query` and `filters`."""
        return self.snapshot().index.search(query, filters, page=page, page_size=page_size)

    def feature(self, view: str, name: str) -> FeatureEntry:
        """One feature; ObjectNotFoundError naming it when it is not registered."""
        entry = self.snapshot().catalog.features.get(f"{view}:{name}")
        if entry is None:
            raise ObjectNotFoundError("feature", f"{view}:{name}", _hint_search())
        return entry

    def view(self, name: str) -> ViewEntry:
        """One feature view; ObjectNotFoundError naming it when it is not registered."""
        entry = self.snapshot().catalog.views.get(name)
        if entry is None:
            raise ObjectNotFoundError("feature view", name, _hint_search())
        return entry

    def used_by(self, kind: ObjectKind, name: str) -> Lineage:
        """Everything downstream of an object, however far."""
        return self.lineage(kind, name, "downstream", 10)

    def lineage(self, kind: ObjectKind, name: str, direction: Direction, depth: int) -> Lineage:
        """The lineage neighbourhood of one object (a feature is named `view:feature`)."""
        snap = self.snapshot()
        if kind is ObjectKind.feature and name not in snap.catalog.features:
            raise ObjectNotFoundError(kind.label, name, _hint_search())
        return snap.graph.lineage(kind, name, direction, depth)

    def rights(self, kind: ObjectKind, name: str) -> EffectiveRights:
        """Effective terms of any object, after propagation along its lineage."""
        snap = self.snapshot()
        catalog, consumers = snap.catalog, snap.consumers
        if kind is ObjectKind.entity and name in catalog.entities:
            entity_rights = catalog.entities[name].rights
            if entity_rights is not None:
                return entity_rights
            return EffectiveRights("entity", name, None, ())
        if kind is ObjectKind.data_source and name in catalog.sources:
            return catalog.sources[name].rights
        if kind is ObjectKind.feature_view and name in catalog.views:
            return catalog.views[name].rights
        if kind is ObjectKind.feature and name in catalog.features:
            return catalog.features[name].rights
        if kind is ObjectKind.feature_service and name in catalog.services:
            return catalog.services[name].rights
        if kind is ObjectKind.training_set and name in consumers.training_sets:
            training_set = consumers.training_sets[name]
            if training_set.rights is not None:
                return training_set.rights
        if kind is ObjectKind.model and name in consumers.models:
            service = catalog.services.get(consumers.models[name].feature_service)
            if service is not None:
                return replace(service.rights, kind="model", name=name)
        raise ObjectNotFoundError(kind.label, name, _hint_search())

    def check(
        self, purpose: str, refs: Sequence[str], feature_service: str | None = None
    ) -> Decision:
        """The policy's decision for using `refs` (through `feature_service`, if given) for
        `purpose`; unknown features are 404."""
        snap = self.snapshot()
        for ref in refs:
            if ref not in snap.catalog.features:
                raise ObjectNotFoundError("feature", ref, _hint_search())
        if feature_service is not None and feature_service not in snap.catalog.services:
            raise ObjectNotFoundError("feature service", feature_service, _hint_search())
        return snap.policy.check(purpose, refs, feature_service)

    # Measures ---------------------------------------------------------------------------------

    def view_coverage(self, name: str) -> tuple[ViewStats, bool]:
        """Offline coverage of a view (cached by source fingerprint) and whether it was cached."""
        return self.coverage_cache.view_stats(self._coverage_spec(self.view(name)))

    def feature_quality(self, view: str, name: str) -> FeatureQuality:
        """Latest validation, skew against the newest training set, and drift of a feature."""
        entry = self.feature(view, name)
        with self._lock:
            store = self._open_store()
        return feature_quality(store, self.settings.data_dir, entry.view, entry.name)

    def online_freshness(self, name: str) -> OnlineFreshness:
        """Event times of a bounded sample of the view's values in Redis."""
        view = self.view(name)
        return online_freshness(
            self._redis,
            self.snapshot().catalog.project,
            view.name,
            view.join_keys,
            view.ttl_seconds,
        )

    def point_in_time_coverage(
        self, name: str, features: Sequence[str], spine: pa.Table, event_timestamp_column: str
    ) -> PointInTimeCoverage:
        """Share of `spine` rows that get a non-null, in-ttl value of each feature."""
        view = self.view(name)
        for feature in features:
            self.feature(view.name, feature)
        with self._lock:
            return point_in_time_coverage(
                self._open_store(),
                view.name,
                features or view.features,
                spine,
                event_timestamp_column,
            )

    def _compute_coverage(self, spec: CoverageSpec, files: SourceFiles) -> ViewStats:
        """Scan a view's source with the repo's offline engine: Spark when it selects Spark."""
        offline = read_repo_yaml(self.settings.repo_path).get("offline_store")
        if isinstance(offline, dict) and offline.get("type") == SPARK_TYPE:
            from featurestore.catalog.coverage_spark import compute_view_stats_spark
            from featurestore.offline.spark_engine import spark_session

            session = spark_session(SimpleNamespace(spark_conf=offline.get("spark_conf")))
            return compute_view_stats_spark(spec, files, session)
        return compute_view_stats(spec, files)

    def _coverage_spec(self, view: ViewEntry) -> CoverageSpec:
        catalog = self.snapshot().catalog
        source = catalog.sources.get(view.batch_source or "")
        if source is None or source.path is None:
            raise ObjectNotFoundError(
                "Parquet source of feature view",
                view.name,
                "coverage needs a batch or stream view whose batch source is a FileSource",
            )
        return CoverageSpec(
            view=view.name,
            source_path=source.path,
            join_keys=view.join_keys,
            timestamp_field=source.timestamp_field,
            created_timestamp_field=source.created_timestamp_field,
            features=tuple((f, catalog.features[f"{view.name}:{f}"].dtype) for f in view.features),
        )

    # Writes -----------------------------------------------------------------------------------

    def update_metadata(
        self,
        kind: ObjectKind,
        name: str,
        update: MetadataUpdate,
        actor: str,
        role: str,
        if_match: str | None = None,
    ) -> UpdateResult:
        """Validate and register metadata of one object (only the keys `update` names)."""
        with self._lock:
            store = self._open_store()
        return MetadataWriter(store, self.registered).update(
            kind, name, update, actor, role, if_match
        )

    def object_version(self, kind: ObjectKind, name: str) -> int:
        """The metadata version of one object (its `ETag`)."""
        return self.registered.get(kind.value, name).version

    def register_model(self, model: ModelEntry, role: str) -> tuple[ModelEntry, AuditEntry]:
        """Register a model as a consumer; its purposes must be allowed for its service."""
        snap = self.snapshot()
        service = snap.catalog.services.get(model.feature_service)
        if service is None:
            raise ObjectNotFoundError("feature service", model.feature_service, _hint_search())
        if model.training_set and model.training_set not in snap.consumers.training_sets:
            raise ObjectNotFoundError(
                "training set", model.training_set, "build it first; its manifest is missing"
            )
        for purpose in model.purposes:
            snap.policy.check(purpose, service.features, service.name).raise_if_denied()
        return self.ledger.register_model(model, role)

    def audit(
        self, limit: int, offset: int, kind: str | None, name: str | None
    ) -> tuple[int, list[AuditEntry]]:
        """The total and one page of audit entries, newest first."""
        return self.ledger.audit(limit=limit, offset=offset, object_kind=kind, object_name=name)

    # Internals --------------------------------------------------------------------------------

    def _registry_stat(self) -> tuple[int, int]:
        try:
            stat = self.settings.registry_path.stat()
        except FileNotFoundError:
            raise RegistryMissingError(self.settings.registry_path) from None
        return stat.st_mtime_ns, stat.st_size

    def _open_store(self) -> FeatureStore:
        with self._lock:
            if self._store is None:
                self._store = open_store(self.settings, self._redis_url)
            return self._store

    def _consumers(self, policy: Policy) -> Consumers:
        training_sets = {
            name: _with_rights(entry, policy)
            for name, entry in read_training_sets(self.settings.data_dir).items()
        }
        return Consumers(training_sets, self.ledger.models())


def _with_rights(entry: TrainingSetEntry, policy: Policy) -> TrainingSetEntry:
    try:
        rights = policy.features_rights("training set", entry.name, entry.features)
    except FeatureStoreError:  # the manifest names a view that is no longer registered
        return entry
    return replace(entry, rights=rights)


def _hint_search() -> str:
    return "search the catalog (`GET /catalog/search`) for the right name"
