"""`featurestore apply`: validate the repo's catalog metadata and source files, then register
it with Feast.

Apply writes declared metadata only. The registered layer (catalog API writes) is never
touched; where it overrides a declared value, apply says so, one line per object. Every
change apply makes to declared metadata is audited (actor `apply`, with the definition file).
"""

from __future__ import annotations

import logging
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from feast import FeatureStore
from feast.repo_contents import RepoContents
from feast.repo_operations import extract_objects_for_apply_delete

from featurestore.aggregations import AggregationSpecError, declaration_problem
from featurestore.catalog.ledger import Ledger
from featurestore.catalog.registered import (
    DeclaredChange,
    RegisteredStore,
    catalog_path,
)
from featurestore.errors import ConfigError, MetadataErrors
from featurestore.inventory import catalog_objects
from featurestore.layers import EMPTY, declared_values, merge
from featurestore.metadata import CatalogObject, validate_objects
from featurestore.repo import load_definitions, open_store
from featurestore.settings import Settings
from featurestore.source_check import check_sources

logger = logging.getLogger(__name__)

# CatalogObject kinds (in words) → the kind names of URLs and the registered layer.
_REGISTERED_KIND = {
    "entity": "entity",
    "data source": "data_source",
    "feature view": "feature_view",
    "stream feature view": "feature_view",
    "on-demand feature view": "feature_view",
    "feature service": "feature_service",
}


@dataclass(frozen=True)
class ApplyResult:
    """What `apply` registered: the project, object counts by kind, and the registry file."""

    project: str
    objects: dict[str, int]
    deleted: int
    registry_path: Path
    overrides: list[str] = field(default_factory=list)
    """One line per object whose registered metadata overrides a declared value."""
    audited: int = 0
    """Objects whose declared metadata changed (one audit entry each)."""
    warnings: tuple[str, ...] = ()
    """Things to fix that did not stop the apply, e.g. a source file not written yet."""


def validate_definitions(contents: RepoContents) -> None:
    """Raise MetadataErrors listing every missing or invalid metadata field in the repo."""
    errors = validate_objects(catalog_objects(contents))
    if errors:
        raise MetadataErrors(errors)


def validate_aggregations(contents: RepoContents) -> None:
    """Raise, in one line naming the view, on the first stream view whose declaration is wrong."""
    for view in sorted(contents.stream_feature_views, key=lambda v: v.name):
        problem = declaration_problem(view, contents.entities)
        if problem:
            raise AggregationSpecError(problem)


def apply_repo(settings: Settings, redis_url: str) -> ApplyResult:
    """Load, validate and register the repo; nothing is registered when validation fails."""
    contents = load_definitions(settings)
    validate_definitions(contents)
    validate_aggregations(contents)
    sources = check_sources(contents, settings.repo_path.resolve())
    sources.raise_if_problems()
    origins = _definition_files(contents, settings.repo_path.resolve())
    store = open_store(settings, redis_url)
    before = _registered_declared(store) if settings.registry_path.is_file() else {}
    to_apply, to_delete, _, _ = extract_objects_for_apply_delete(
        store.project, store.registry, contents
    )
    try:
        store.apply(to_apply, objects_to_delete=to_delete, partial=False)
    except ValueError as exc:  # Feast's own validation of definitions
        raise ConfigError("repo_path", settings.repo_path, str(exc)) from exc
    objects = catalog_objects(contents)
    after = {_key(obj): obj for obj in objects}
    registered = RegisteredStore(Ledger(catalog_path(settings.data_dir)))
    changes = _declared_changes(before, after, origins)
    registered.record_declared(changes)
    counts = Counter(obj.kind for obj in objects)
    logger.info("applied %s objects to project %s", sum(counts.values()), store.project)
    return ApplyResult(
        project=store.project,
        objects=dict(counts),
        deleted=len(to_delete),
        registry_path=settings.registry_path.resolve(),
        overrides=override_lines(after.values(), registered),
        audited=len(changes),
        warnings=tuple(sources.warnings),
    )


def override_lines(objects: Iterable[CatalogObject], registered: RegisteredStore) -> list[str]:
    """One line per object whose registered metadata overrides a declared value."""
    layer = registered.layer()
    lines = []
    for obj in objects:
        kind = _REGISTERED_KIND[obj.kind]
        record = layer.get((kind, obj.name), EMPTY)
        overridden = list(merge(obj, record).overridden)
        if "rights" in record.values:
            overridden.append("rights (the most restrictive terms apply)")
        if overridden:
            lines.append(
                f"{obj.kind} `{obj.name}`: registered {', '.join(overridden)} override the "
                f"definitions; `featurestore catalog export --object {kind}/{obj.name}` "
                "prints them as code"
            )
    return lines


def _key(obj: CatalogObject) -> tuple[str, str]:
    return _REGISTERED_KIND[obj.kind], obj.name


def _registered_declared(store: FeatureStore) -> dict[tuple[str, str], CatalogObject]:
    """The declared metadata in the registry now, before this apply changes it."""
    store.refresh_registry()
    contents = RepoContents(
        projects=[],
        data_sources=store.list_data_sources(),
        feature_views=store.list_feature_views(),
        on_demand_feature_views=store.list_on_demand_feature_views(),
        stream_feature_views=store.list_stream_feature_views(),
        label_views=[],
        entities=store.list_entities(),
        feature_services=store.list_feature_services(),
        permissions=[],
    )
    return {_key(obj): obj for obj in catalog_objects(contents)}


def _declared_changes(
    before: dict[tuple[str, str], CatalogObject],
    after: dict[tuple[str, str], CatalogObject],
    origins: dict[tuple[str, str], str],
) -> list[DeclaredChange]:
    changes = []
    for key in sorted(before.keys() | after.keys()):
        old = declared_values(before[key]) if key in before else {}
        new = declared_values(after[key]) if key in after else {}
        diff: dict[str, Any] = {
            name: {"before": old.get(name), "after": new.get(name)}
            for name in sorted(old.keys() | new.keys())
            if old.get(name) != new.get(name)
        }
        if diff:
            changes.append(DeclaredChange(key[0], key[1], diff, origins.get(key)))
    return changes


def _definition_files(contents: RepoContents, repo_path: Path) -> dict[tuple[str, str], str]:
    """The repo file (relative path) that defines each object, found among loaded modules.

    An object imported into several files is credited to the one whose text names it.
    """
    found: dict[int, list[Path]] = {}
    for module in list(sys.modules.values()):
        origin = getattr(module, "__file__", None)
        if not origin or not Path(origin).resolve().is_relative_to(repo_path):
            continue
        for value in vars(module).values():
            found.setdefault(id(value), []).append(Path(origin).resolve())
    files: dict[tuple[str, str], str] = {}
    feast_objects: list[tuple[str, Any]] = [
        *(("entity", obj) for obj in contents.entities),
        *(("data_source", obj) for obj in contents.data_sources),
        *(("feature_view", obj) for obj in contents.feature_views),
        *(("feature_view", obj) for obj in contents.stream_feature_views),
        *(("feature_view", obj) for obj in contents.on_demand_feature_views),
        *(("feature_service", obj) for obj in contents.feature_services),
    ]
    for kind, obj in feast_objects:
        candidates = sorted(set(found.get(id(obj), [])))
        if not candidates:
            continue
        named = [path for path in candidates if f'"{obj.name}"' in path.read_text()]
        files[(kind, obj.name)] = str((named or candidates)[0].relative_to(repo_path))
    return files
