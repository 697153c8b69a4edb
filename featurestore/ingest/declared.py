"""What a feature repo declares about one Parquet source: its columns, their types and semantics.

Ingest reads the definitions (not the registry), so a team can load its files before the first
`featurestore apply`. A column's type comes from the views that read the source (join keys from
their entities), its checks from the field semantics tags of those views (`min`, `max`,
`allowed`, `nullable`); join keys and the event timestamp may never be null.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from feast import FeatureView, Field
from feast.infra.offline_stores.file_source import FileSource
from feast.repo_contents import RepoContents
from feast.value_type import ValueType
from pydantic import ValidationError

from featurestore.errors import MetadataError, SourceDataError
from featurestore.metadata import FieldSemantics, parse_semantics
from featurestore.registry import source_location

DUCKDB_TYPES = {
    ValueType.INT64: "BIGINT",
    ValueType.INT32: "INTEGER",
    ValueType.DOUBLE: "DOUBLE",
    ValueType.FLOAT: "FLOAT",
    ValueType.STRING: "VARCHAR",
    ValueType.BOOL: "BOOLEAN",
    ValueType.UNIX_TIMESTAMP: "TIMESTAMPTZ",
    ValueType.BYTES: "BLOB",
}
"""The DuckDB (and so Parquet) type a Feast value type is written as."""


@dataclass
class DeclaredColumn:
    """One column of the source as the definitions declare it."""

    name: str
    """The column's name in the Parquet file (a view's `field_mapping` undone)."""
    sql_type: str
    nullable: bool = True
    semantics: list[FieldSemantics] = field(default_factory=list)


@dataclass(frozen=True)
class DeclaredSource:
    """A FileSource, where its Parquet is, and the columns ingest writes."""

    name: str
    path: Path
    key_columns: tuple[str, ...]
    timestamp_field: str
    created_timestamp_field: str | None
    columns: tuple[DeclaredColumn, ...]
    """Keys, then the timestamps, then every feature of the views reading the source."""
    views: tuple[str, ...]


def declared_source(contents: RepoContents, name: str, repo_path: Path) -> DeclaredSource:
    """The source named `name` of the repo, with the columns its views read."""
    sources = {source.name: source for source in contents.data_sources}
    source = sources.get(name)
    if not isinstance(source, FileSource):
        files = sorted(n for n, s in sources.items() if isinstance(s, FileSource))
        why = "is not a FileSource" if source is not None else "is not defined in the repo"
        raise SourceDataError(
            f"Source `{name}` {why}; ingest writes the Parquet of a FileSource: one of "
            f"{', '.join(f'`{n}`' for n in files) or 'none'}."
        )
    views = [
        view
        for view in [*contents.feature_views, *contents.stream_feature_views]
        if view.batch_source is not None and view.batch_source.name == name
    ]
    if not views:
        raise SourceDataError(
            f"No feature view reads source `{name}`, so its columns are not declared; define a "
            "view on it in the feature repo first."
        )
    stored = {new: old for old, new in (source.field_mapping or {}).items()}
    columns: dict[str, DeclaredColumn] = {}
    entities = {entity.name: entity for entity in contents.entities}

    def declare(
        name: str, value_type: ValueType, nullable: bool, tags: dict[str, str], view: str = ""
    ) -> None:
        column_name = stored.get(name, name)
        sql_type = DUCKDB_TYPES.get(value_type)
        if sql_type is None:
            raise SourceDataError(
                f"Column `{name}` of source `{source.name}` has type {value_type.name}, which "
                f"ingest cannot write; use one of {', '.join(t.name for t in DUCKDB_TYPES)}."
            )
        column = columns.setdefault(column_name, DeclaredColumn(column_name, sql_type))
        column.nullable = column.nullable and nullable
        semantics = _semantics(view, name, tags)
        if semantics is not None:
            column.nullable = column.nullable and semantics.nullable
            column.semantics.append(semantics)

    keys: list[str] = []
    for view in views:
        for entity_name in view.entities:
            entity = entities.get(entity_name)
            if entity is not None and entity.join_key:
                keys.append(stored.get(entity.join_key, entity.join_key))
                declare(entity.join_key, entity.value_type, False, {})
    declare(source.timestamp_field, ValueType.UNIX_TIMESTAMP, False, {})
    created = source.created_timestamp_column or None
    if created:
        declare(created, ValueType.UNIX_TIMESTAMP, True, {})
    for view in views:
        for feature in _schema(view):
            tags = dict(feature.tags)
            declare(feature.name, feature.dtype.to_value_type(), True, tags, view.name)
    location = source_location(source, repo_path, mapped=False)
    return DeclaredSource(
        name=source.name,
        path=Path(str(location.path)),
        key_columns=tuple(dict.fromkeys(keys)),
        timestamp_field=stored.get(source.timestamp_field, source.timestamp_field),
        created_timestamp_field=stored.get(created, created) if created else None,
        columns=tuple(columns.values()),
        views=tuple(view.name for view in views),
    )


def _schema(view: FeatureView) -> list[Field]:
    return [*view.entity_columns, *view.features]


def _semantics(view: str, name: str, tags: dict[str, str]) -> FieldSemantics | None:
    if not tags:
        return None
    try:
        return parse_semantics(tags)
    except ValidationError as exc:
        raise MetadataError("feature view", view, f"fields[{name}].tags", str(exc)) from None
