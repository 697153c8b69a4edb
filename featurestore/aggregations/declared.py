"""Window specs read from the registry: a `StreamFeatureView`'s Feast `Aggregation`s on its
`KafkaSource`, checked once so `apply`, the consumer and the backfill agree by construction.

A view declares `aggregations=[Aggregation(column, function, time_window, name)]`, its
`timestamp_field`, and a `KafkaSource` whose `watermark_delay_threshold` is the allowed
lateness and whose `JsonFormat` schema types the columns. Windows slide continuously (a row at
every change point); a declared `slide_interval` must divide its window, as Feast requires, but
does not coarsen the result. The source's `message_key` tag names the field its messages are
keyed by; a view keyed by another entity is repartitioned by the consumer.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any, cast

from feast import Entity, KafkaSource, StreamFeatureView
from feast.types import Float32, Float64, Int32, Int64, String

from featurestore.aggregations.spec import (
    FUNCTIONS,
    Aggregation,
    AggregationSpecError,
    ColumnType,
    Function,
    WindowSpec,
)
from featurestore.errors import TerminalError

MESSAGE_KEY_TAG = "message_key"
"""Tag on a `KafkaSource` naming the event field its messages are keyed (partitioned) by."""

_TYPE_ALIASES: dict[str, ColumnType] = {
    "bigint": "int",
    "int": "int",
    "integer": "int",
    "long": "int",
    "double": "float",
    "float": "float",
    "string": "string",
    "varchar": "string",
    "timestamp": "timestamp",
    "boolean": "bool",
    "bool": "bool",
}
_FEATURE_TYPES: dict[str, tuple[Any, ...]] = {
    "int64": (Int64, Int32),
    "float64": (Float64, Float32),
    "string": (String,),
}


class SchemaError(TerminalError):
    """A stream source's schema or event tags cannot be turned into checks."""


def parse_schema(schema_json: str) -> dict[str, ColumnType]:
    """Field name → type of a Feast JsonFormat schema such as `id bigint, ts timestamp`."""
    fields: dict[str, ColumnType] = {}
    for part in schema_json.split(","):
        words = part.split()
        if len(words) != 2 or words[1].lower() not in _TYPE_ALIASES:
            raise SchemaError(
                f"Stream schema entry `{part.strip()}` is not `<name> <type>` with a type among "
                f"{', '.join(sorted(_TYPE_ALIASES))}; fix the source's `schema_json`."
            )
        fields[words[0]] = _TYPE_ALIASES[words[1].lower()]
    return fields


def source_schema(view: StreamFeatureView) -> dict[str, ColumnType]:
    """The typed event fields of the view's Kafka source."""
    source = view.stream_source
    if not isinstance(source, KafkaSource):
        raise AggregationSpecError(
            f"Stream feature view `{view.name}`: its stream source is a "
            f"{type(source).__name__}; declare a KafkaSource."
        )
    schema = getattr(source.kafka_options.message_format, "schema_json", None)
    if not schema:
        raise AggregationSpecError(
            f"Stream feature view `{view.name}`: source `{source.name}` needs a JsonFormat "
            "with `schema_json`."
        )
    return parse_schema(schema)


def message_key(view: StreamFeatureView) -> str | None:
    """The field the view's source messages are keyed by (its `message_key` tag), if declared."""
    source = view.stream_source
    return source.tags.get(MESSAGE_KEY_TAG) if source is not None else None


def _join_keys(view: StreamFeatureView, entities: Iterable[Entity]) -> list[str]:
    """A registered view knows its join keys; a parsed definition names entities instead."""
    if view.join_keys:
        return list(view.join_keys)
    by_name = {entity.name: entity.join_key for entity in entities}
    return [by_name.get(name, name) for name in view.entities]


def window_spec(view: StreamFeatureView, entities: Iterable[Entity] = ()) -> WindowSpec:
    """The view's aggregations as a spec; raises naming the view and the first problem.

    `entities` resolves the join key of a view parsed from the repo but not registered yet."""
    keys = _join_keys(view, entities)
    problem = _problem(view, keys)
    if problem:
        raise AggregationSpecError(f"Stream feature view `{view.name}`: {problem}.")
    return _build(view, keys[0])


def declaration_problem(view: StreamFeatureView, entities: Iterable[Entity] = ()) -> str | None:
    """One line naming the view and what is wrong with its declaration, or None."""
    problem = _problem(view, _join_keys(view, entities))
    return f"Stream feature view `{view.name}`: {problem}." if problem else None


def _problem(view: StreamFeatureView, join_keys: list[str]) -> str | None:
    try:
        schema = source_schema(view)
    except (AggregationSpecError, SchemaError) as exc:
        return str(exc).split(": ", 1)[-1].rstrip(".")
    if not view.aggregations:
        return "declares no `aggregations`; add Aggregation(column, function, time_window, name)"
    if len(join_keys) != 1:
        return f"needs exactly one join key, has {join_keys}"
    (key,) = join_keys
    if key not in schema:
        return f"join key `{key}` is missing from the source schema {sorted(schema)}"
    if view.timestamp_field not in schema or schema[view.timestamp_field] != "timestamp":
        return (
            f"timestamp_field `{view.timestamp_field}` is not a timestamp field of the source "
            "schema"
        )
    for aggregation in view.aggregations:
        label = f"aggregation `{aggregation.name or aggregation.column}`"
        if aggregation.function not in FUNCTIONS:
            return (
                f"{label} uses unknown function `{aggregation.function}`; use one of "
                f"{', '.join(FUNCTIONS)}"
            )
        if not aggregation.name:
            return f"{label} needs a `name` (the feature it fills)"
        if aggregation.column and aggregation.column not in schema:
            return f"{label} reads column `{aggregation.column}`, missing from the source schema"
        if not aggregation.column and aggregation.function != "count":
            return f"{label} ({aggregation.function}) needs a column; only `count` counts events"
        if aggregation.function in ("sum", "mean") and schema.get(aggregation.column) != "int":
            return (
                f"{label} ({aggregation.function}) needs an integer column for exact results; "
                f"`{aggregation.column}` is not (e.g. store cents)"
            )
        window, slide = aggregation.time_window, aggregation.slide_interval
        if window is None or window <= timedelta(0) or window % timedelta(microseconds=1):
            return f"{label} needs a positive `time_window` of whole µs, not `{window}`"
        if slide is not None and (slide <= timedelta(0) or window % slide):
            return f"{label} window `{window}` is not a multiple of its slide `{slide}`"
    names = [aggregation.name for aggregation in view.aggregations]
    if len(set(names)) != len(names):
        return f"aggregation names {names} must be distinct"
    fields = {f.name: f for f in view.features if f.name not in join_keys}
    if sorted(fields) != sorted(names):
        return (
            f"feature fields {sorted(fields)} do not match the aggregation names "
            f"{sorted(names)}; declare one field per aggregation, named like it"
        )
    for built in _build(view, key).aggregations:
        dtype = fields[built.name].dtype
        if dtype not in _FEATURE_TYPES[built.output_type]:
            return (
                f"feature `{built.name}` is {dtype}, but {built.function} of "
                f"`{built.column}` gives {built.output_type}"
            )
    return None


def _build(view: StreamFeatureView, key: str) -> WindowSpec:
    schema = source_schema(view)
    source = view.stream_source
    assert isinstance(source, KafkaSource)
    lateness = source.kafka_options.watermark_delay_threshold or timedelta(0)
    aggregations = tuple(
        Aggregation(
            name=a.name,
            function=cast(Function, a.function),
            column=a.column,
            window=cast(timedelta, a.time_window),
            column_type=schema.get(a.column, "int"),
        )
        for a in view.aggregations
    )
    return WindowSpec(
        view=view.name,
        key=key,
        allowed_lateness=lateness,
        aggregations=aggregations,
        timestamp_field=view.timestamp_field,
        created_timestamp_field=(
            source.batch_source.created_timestamp_column if source.batch_source else ""
        )
        or "created_timestamp",
    )
