"""The one facade over the Feast registry: resolve services, `view:feature` refs and view names
into typed views, with their keys, features, ttl, source, aggregations and rights.

Every module that reads definitions asks here, so a rule is written once: batch and stream
views are listed together by name (a stream view wins a name clash), a ttl of zero or None
means no expiry, and an unknown object raises `ObjectNotFoundError` naming it and close names.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from feast import FeatureService, FeatureStore, FeatureView, StreamFeatureView
from feast.aggregation import Aggregation
from feast.data_source import DataSource, KafkaSource
from feast.errors import FeastObjectNotFoundException
from feast.infra.offline_stores.file_source import FileSource
from feast.value_type import ValueType

from featurestore.errors import ObjectNotFoundError, RetrievalError
from featurestore.offline.source import SourceLocation, ViewSource
from featurestore.repo import data_dir_of

if TYPE_CHECKING:
    from featurestore.layers import RegisteredLayer
    from featurestore.policy import EffectiveRights, Policy

ViewKind = Literal["batch", "stream"]
Selection = str | FeatureService | Sequence[str]
"""A feature service (its name or object) or `view:feature` refs."""

KNOWLEDGE_TIME_TAG = "featurestore.knowledge_time"
"""Tag on a data source: `ignore` makes its created timestamp only break ties, never hide rows
(for sources backfilled in one load, whose created times are all the load time)."""


class FeatureRefError(RetrievalError):
    """A feature ref is not of the form `view:feature`."""

    def __init__(self, ref: object) -> None:
        self.ref = ref
        super().__init__(
            f"Feature ref `{ref}` is not of the form `view:feature`; name a registered feature "
            "view and one of its features."
        )


def parse_ref(ref: object) -> tuple[str, str]:
    """The view and feature of a `view:feature` ref."""
    view, sep, feature = str(ref).partition(":")
    if not sep or not view or not feature:
        raise FeatureRefError(ref)
    return view, feature


def view_of_ref(ref: str) -> str:
    """The view part of a ref, unchecked (on-demand refs included)."""
    return ref.partition(":")[0]


def refs_by_view(refs: Iterable[str]) -> dict[str, list[str]]:
    """The features of each view named in `view:feature` refs, in first-seen order."""
    wanted: dict[str, list[str]] = {}
    for ref in refs:
        view, feature = parse_ref(ref)
        wanted.setdefault(view, []).append(feature)
    return wanted


def normalised_ttl(ttl: timedelta | None) -> timedelta | None:
    """A view's ttl, or None when it never expires (Feast writes that as zero or None)."""
    return ttl if ttl and ttl > timedelta(0) else None


def view_kind(view: FeatureView) -> ViewKind:
    return "stream" if isinstance(view, StreamFeatureView) else "batch"


@dataclass(frozen=True)
class ResolvedField:
    """A join key or feature with its Feast value type."""

    name: str
    value_type: ValueType
    dtype: str
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ResolvedView:
    """One batch or stream feature view as a selection uses it."""

    name: str
    """The name used in refs and output columns (a service's alias, else the view's name)."""
    view_name: str
    """The registered name."""
    kind: ViewKind
    join_keys: tuple[ResolvedField, ...]
    features: tuple[ResolvedField, ...]
    """The selected features (every feature when the selection names none)."""
    ttl: timedelta | None
    """None: values never expire."""
    online: bool
    entities: tuple[str, ...]
    location: SourceLocation | None
    """Where the batch source's rows are; None when it is not a Parquet FileSource."""
    timestamp_field: str
    created_timestamp_field: str | None
    knowledge_time_ignored: bool
    """The source's created time only breaks ties (see `KNOWLEDGE_TIME_TAG`)."""
    aggregations: tuple[Aggregation, ...]
    """A stream view's window aggregations, as declared with Feast's `Aggregation`."""
    stream_source: DataSource | None
    batch_source_name: str | None
    tags: dict[str, str]
    feast_view: FeatureView = field(compare=False, repr=False)
    """The Feast object (with its projection), for writers and definition hashes."""
    spine_join_keys: tuple[str, ...] = ()
    """The request's names of the join keys when a service renames them (`join_key_map`)."""
    rights: EffectiveRights | None = None
    """Effective rights terms, when resolved with a policy."""

    @property
    def join_key_names(self) -> tuple[str, ...]:
        return tuple(key.name for key in self.join_keys)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(feature.name for feature in self.features)

    @property
    def refs(self) -> tuple[str, ...]:
        """`view:feature` refs of the selected features, by registered view name."""
        return tuple(f"{self.view_name}:{name}" for name in self.feature_names)

    @property
    def topic(self) -> str | None:
        """The Kafka topic of a stream view's source."""
        if isinstance(self.stream_source, KafkaSource):
            return str(self.stream_source.kafka_options.topic)
        return None

    def view_source(self, *, knowledge_time: bool = True) -> ViewSource:
        """The offline engine's input for this view; `knowledge_time=False` keeps the created
        time as a tie-breaker even when the source's tag says to ignore it."""
        if self.location is None:
            raise RetrievalError(
                f"Feature view `{self.name}` does not read a Parquet FileSource; the offline "
                "engine reads Parquet. Give it a FileSource batch source."
            )
        created = self.created_timestamp_field
        if knowledge_time and self.knowledge_time_ignored:
            created = None
        return ViewSource(
            name=self.name,
            location=self.location,
            join_keys=self.join_key_names,
            features=self.feature_names,
            timestamp_field=self.timestamp_field,
            created_timestamp_field=created,
            ttl=self.ttl,
            spine_join_keys=self.spine_join_keys,
        )


def source_location(
    source: FileSource, repo_path: Path | str | None, *, mapped: bool = True
) -> SourceLocation:
    """Where a FileSource's rows are: its Parquet (a file or a folder of files), with its field
    mapping as renames unless `mapped` is false."""
    path = FileSource.get_uri_for_file_path(Path(repo_path) if repo_path else None, source.path)
    return SourceLocation.parquet(path, dict(source.field_mapping or {}) if mapped else None)


def resolve_view(
    view: FeatureView,
    features: Sequence[str] | None = None,
    repo_path: Path | str | None = None,
    *,
    rights: EffectiveRights | None = None,
) -> ResolvedView:
    """A (possibly projected) Feast view, with `features` checked against its schema."""
    name = view.projection.name_to_use() if view.projection else view.name
    types = {column.name: column for column in view.entity_columns}
    join_keys = tuple(_field(column) for column in types.values())
    # A stream feature view lists its entity columns among its features too.
    value_fields = {f.name: f for f in view.features if f.name not in types}
    if features is None:
        chosen = list(value_fields)
    else:
        chosen = list(dict.fromkeys(features))
        for feature in chosen:
            if feature not in value_fields:
                known = ", ".join(sorted(value_fields))
                raise ObjectNotFoundError("feature", f"{name}:{feature}", f"`{name}` has {known}")
    source = view.batch_source
    location = source_location(source, repo_path) if isinstance(source, FileSource) else None
    key_map = dict(view.projection.join_key_map) if view.projection else {}
    stream = view.stream_source if isinstance(view, StreamFeatureView) else None
    return ResolvedView(
        name=name,
        view_name=view.name,
        kind=view_kind(view),
        join_keys=join_keys,
        features=tuple(_field(value_fields[feature]) for feature in chosen),
        ttl=normalised_ttl(view.ttl),
        online=bool(view.online),
        entities=tuple(view.entities),
        location=location,
        timestamp_field=source.timestamp_field if source else "",
        created_timestamp_field=(source.created_timestamp_column or None) if source else None,
        knowledge_time_ignored=bool(source and source.tags.get(KNOWLEDGE_TIME_TAG) == "ignore"),
        aggregations=tuple(getattr(view, "aggregations", None) or ()),
        stream_source=stream,
        batch_source_name=source.name if source else None,
        tags=dict(view.tags),
        spine_join_keys=tuple(key_map.get(k.name, k.name) for k in join_keys) if key_map else (),
        rights=rights,
        feast_view=view,
    )


def _field(column: object) -> ResolvedField:
    dtype = column.dtype  # type: ignore[attr-defined]
    return ResolvedField(
        name=column.name,  # type: ignore[attr-defined]
        value_type=dtype.to_value_type(),
        dtype=str(dtype),
        description=getattr(column, "description", "") or "",
        tags=dict(getattr(column, "tags", None) or {}),
    )


@dataclass(frozen=True)
class Resolved:
    """A selection resolved: its service (if any), its refs and the views they read."""

    service: FeatureService | None
    refs: tuple[str, ...]
    views: tuple[ResolvedView, ...]

    @property
    def service_name(self) -> str | None:
        return self.service.name if self.service is not None else None


class Registry:
    """Registry reads of one Feast store, resolved into typed views."""

    def __init__(self, store: FeatureStore, *, allow_cache: bool = False) -> None:
        """`allow_cache` reads Feast's cached registry (the online read path); by default each
        call re-reads it, so a fresh `apply` is seen."""
        self.store = store
        self.allow_cache = allow_cache

    @property
    def project(self) -> str:
        return str(self.store.project)

    @property
    def repo_path(self) -> Path | None:
        path = self.store.config.repo_path
        return Path(path) if path else None

    def feature_views(self, *, online: bool | None = None) -> list[FeatureView]:
        """Every batch and stream feature view by name (a stream view wins a clash), optionally
        only the online (or offline-only) ones."""
        views: dict[str, FeatureView] = {
            view.name: view for view in self.store.list_feature_views(allow_cache=self.allow_cache)
        }
        views.update(
            {
                view.name: view
                for view in self.store.list_stream_feature_views(allow_cache=self.allow_cache)
            }
        )
        return [view for view in views.values() if online is None or view.online == online]

    def feature_view(self, name: str) -> FeatureView:
        """The batch or stream feature view named `name`."""
        try:
            view = self.store.registry.get_any_feature_view(
                name, self.project, allow_cache=self.allow_cache
            )
        except FeastObjectNotFoundException:
            known = [view.name for view in self.feature_views()]
            raise ObjectNotFoundError(
                "feature view", name, known=known, project=self.project
            ) from None
        if not isinstance(view, FeatureView):
            raise RetrievalError(
                f"`{name}` is a {type(view).__name__}; only batch and stream feature views can be "
                "read here."
            )
        return view

    def feature_service(self, name: str) -> FeatureService:
        try:
            return self.store.get_feature_service(name, allow_cache=self.allow_cache)
        except FeastObjectNotFoundException:
            known = [service.name for service in self.store.list_feature_services()]
            raise ObjectNotFoundError(
                "feature service", name, known=known, project=self.project
            ) from None

    def views(
        self, names: Sequence[str] | None = None, *, online: bool | None = None
    ) -> list[ResolvedView]:
        """The named views with every feature (default: every batch and stream view)."""
        if names is None:
            found = self.feature_views(online=online)
        else:
            found = [self.feature_view(name) for name in names]
        return [resolve_view(view, None, self.repo_path) for view in found]

    def stream_views(
        self, names: Sequence[str] | None = None, *, topic: str | None = None
    ) -> list[ResolvedView]:
        """The stream feature views (default: all), optionally only those on Kafka `topic`;
        each carries its aggregations, source and topic."""
        views = self.views(names) if names is not None else self.views()
        chosen = [view for view in views if view.kind == "stream"]
        if names is not None and len(chosen) < len(views):
            batch = [view.name for view in views if view.kind != "stream"]
            raise RetrievalError(
                f"Feature view(s) {', '.join(f'`{name}`' for name in batch)} are batch views, "
                "not stream feature views; name stream feature views."
            )
        return [view for view in chosen if topic is None or view.topic == topic]

    def resolve(self, selection: Selection, *, policy: Policy | None = None) -> Resolved:
        """The views and refs of a feature service (name or object) or of `view:feature` refs;
        with `policy`, each view carries its effective rights."""
        service: FeatureService | None = None
        if isinstance(selection, str):
            service = self.feature_service(selection)
        elif isinstance(selection, FeatureService):
            service = selection
        views = []
        if service is not None:
            for projection in service.feature_view_projections:
                view = self.feature_view(projection.name).with_projection(projection)
                names = [feature.name for feature in projection.features]
                views.append(self._resolved(view, names, policy))
        else:
            for view_name, names in refs_by_view(selection).items():  # type: ignore[arg-type]
                views.append(self._resolved(self.feature_view(view_name), names, policy))
        refs = tuple(ref for view in views for ref in view.refs)
        return Resolved(service, refs, tuple(views))

    def _resolved(
        self, view: FeatureView, names: Sequence[str], policy: Policy | None
    ) -> ResolvedView:
        rights = policy.view_rights(view.name) if policy is not None else None
        return resolve_view(view, names, self.repo_path, rights=rights)

    def policy(self, registered: RegisteredLayer | None = None) -> Policy:
        """The rights policy over everything registered in the project: declared terms from the
        registry, registered terms from the catalog store of the same data dir."""
        from featurestore.catalog.registered import read_layer
        from featurestore.policy import Policy

        store = self.store
        return Policy(
            data_sources=store.list_data_sources(allow_cache=self.allow_cache),
            feature_views=self.feature_views(),
            on_demand_feature_views=store.list_on_demand_feature_views(
                allow_cache=self.allow_cache
            ),
            feature_services=store.list_feature_services(),
            entities=store.list_entities(allow_cache=self.allow_cache),
            registered=read_layer(data_dir_of(store)) if registered is None else registered,
        )
