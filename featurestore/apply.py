"""`featurestore apply`: validate the repo's catalog metadata and source files, then register
it with Feast."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from feast.repo_contents import RepoContents
from feast.repo_operations import extract_objects_for_apply_delete

from featurestore.errors import ConfigError, MetadataErrors
from featurestore.inventory import catalog_objects
from featurestore.metadata import validate_objects
from featurestore.repo import load_definitions, open_store
from featurestore.settings import Settings
from featurestore.source_check import check_sources

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApplyResult:
    """What `apply` registered: the project, object counts by kind, and the registry file."""

    project: str
    objects: dict[str, int]
    deleted: int
    registry_path: Path
    warnings: tuple[str, ...] = ()
    """Things to fix that did not stop the apply, e.g. a source file not written yet."""


def validate_definitions(contents: RepoContents) -> None:
    """Raise MetadataErrors listing every missing or invalid metadata field in the repo."""
    errors = validate_objects(catalog_objects(contents))
    if errors:
        raise MetadataErrors(errors)


def apply_repo(settings: Settings, redis_url: str) -> ApplyResult:
    """Load, validate and register the repo; nothing is registered when validation fails."""
    contents = load_definitions(settings)
    validate_definitions(contents)
    sources = check_sources(contents, settings.repo_path.resolve())
    sources.raise_if_problems()
    store = open_store(settings, redis_url)
    to_apply, to_delete, _, _ = extract_objects_for_apply_delete(
        store.project, store.registry, contents
    )
    try:
        store.apply(to_apply, objects_to_delete=to_delete, partial=False)
    except ValueError as exc:  # Feast's own validation of definitions
        raise ConfigError("repo_path", settings.repo_path, str(exc)) from exc
    counts = Counter(obj.kind for obj in catalog_objects(contents))
    logger.info("applied %s objects to project %s", sum(counts.values()), store.project)
    return ApplyResult(
        project=store.project,
        objects=dict(counts),
        deleted=len(to_delete),
        registry_path=settings.registry_path.resolve(),
        warnings=tuple(sources.warnings),
    )
