"""What an online read fetches: per feature view, its Redis key layout, fields and ttl.

Resolving feature refs or a feature service against the registry, and checking the purpose,
happens once per distinct request shape; the plan is then reused for every read.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from feast import FeatureService, FeatureStore
from feast.value_type import ValueType

from featurestore.errors import RetrievalError
from featurestore.online.decoding import decode_value
from featurestore.online.layout import (
    FIXED_WIDTH,
    KEY_VALUE,
    field_name,
    key_prefix,
    key_value_header,
    timestamp_field,
)
from featurestore.policy import Policy
from featurestore.registry import Registry, ResolvedView


class EntityKeyError(RetrievalError):
    """Entity rows lack a join key, have columns of unequal length or a value of a wrong type."""


@dataclass(frozen=True)
class ViewRead:
    """One feature view's part of a read: which hash fields to fetch from which keys."""

    name: str
    request_keys: tuple[str, ...]  # entity columns of the request, in sorted join key order
    key_types: tuple[ValueType, ...]
    key_prefix: bytes
    project: bytes
    features: tuple[str, ...]
    output_names: tuple[str, ...]
    fields: tuple[bytes, ...]  # the features' fields, then `_ts:<view>`
    ttl_micros: int | None
    packed: struct.Struct | None = None  # all features fixed-width: (tag, value) pairs at once
    packed_tags: tuple[int, ...] = ()

    def decode(self, raws: Sequence[bytes]) -> Sequence[Any]:
        """The values of one entity's serialized features, none of them missing."""
        if self.packed is not None:
            joined = b"".join(raws)
            if len(joined) == self.packed.size:
                unpacked = self.packed.unpack(joined)
                if unpacked[0::2] == self.packed_tags:
                    return unpacked[1::2]
        return [decode_value(raw) for raw in raws]

    def redis_key(self, values: Sequence[Any]) -> bytes:
        """The Redis key of one entity, given its join key values in `request_keys` order."""
        parts = [self.key_prefix]
        for value_type, value in zip(self.key_types, values, strict=True):
            try:
                encoded = KEY_VALUE[value_type](value)
            except (TypeError, ValueError, struct.error) as exc:
                raise EntityKeyError(
                    f"Entity value `{value!r}` of feature view `{self.name}` is not a valid "
                    f"`{value_type.name}` join key ({exc}); send values of the entity's type."
                ) from exc
            parts.append(key_value_header(value_type, len(encoded)) + encoded)
        parts.append(self.project)
        return b"".join(parts)


@dataclass(frozen=True)
class ReadPlan:
    """Every view a request reads, the `view:feature` refs and the output feature names."""

    refs: tuple[str, ...]
    views: tuple[ViewRead, ...]
    feature_names: tuple[str, ...]
    request_keys: tuple[str, ...]
    feature_service: str | None


_INT_RANGES = {
    ValueType.INT64: (-(2**63), 2**63),
    ValueType.UNIX_TIMESTAMP: (-(2**63), 2**63),
    ValueType.INT32: (-(2**31), 2**31),
}
_KEY_TYPE_WORDS = {ValueType.STRING: "a string", ValueType.BYTES: "a string"}


def check_entity_values(plan: ReadPlan, entities: Mapping[str, Sequence[Any]]) -> None:
    """Refuse an entity value that is not of its join key's type (nulls included), naming the
    key, the row index and the value; `loc` points at it in an HTTP request body."""
    checked: set[str] = set()
    for view in plan.views:
        for key, value_type in zip(view.request_keys, view.key_types, strict=True):
            values = entities.get(key)
            if values is None or key in checked:
                continue
            checked.add(key)
            bounds = _INT_RANGES.get(value_type)
            if bounds is not None:
                low, high = bounds
                ok = [type(v) is int and low <= v < high for v in values]
                expected = f"an integer ({value_type.name})"
            elif value_type in _KEY_TYPE_WORDS:
                ok = [type(v) is str for v in values]
                expected = f"{_KEY_TYPE_WORDS[value_type]} ({value_type.name})"
            else:
                continue
            if all(ok):
                continue
            index = ok.index(False)
            error = EntityKeyError(
                f"Entity value `{json.dumps(values[index], default=str)}` of join key `{key}` "
                f"at index {index} is not {expected}; send each `{key}` as {expected}."
            )
            error.loc = ("body", "entities", key, index)
            raise error


def resolve_plan(
    store: FeatureStore,
    features: FeatureService | str | Sequence[str],
    *,
    policy: Policy,
    purpose: str,
    full_feature_names: bool = False,
) -> ReadPlan:
    """The plan for a feature service (object or name) or `view:feature` refs; refuses a
    purpose their rights do not allow."""
    resolved = Registry(store, allow_cache=True).resolve(features)
    views = [_view_read(store.project, view, full_feature_names) for view in resolved.views]
    refs = tuple(f"{view.name}:{name}" for view in views for name in view.features)
    if not refs:
        raise RetrievalError("The request names no features; pass `features` or a service.")
    policy.check(purpose, refs, resolved.service_name).raise_if_denied()
    output = tuple(name for view in views for name in view.output_names)
    duplicates = sorted({name for name in output if output.count(name) > 1})
    if duplicates:
        raise RetrievalError(
            f"Feature name(s) {', '.join(f'`{name}`' for name in duplicates)} come from more than "
            "one view; pass `full_feature_names=True` to prefix them with the view name."
        )
    keys = tuple(dict.fromkeys(key for view in views for key in view.request_keys))
    return ReadPlan(refs, tuple(views), output, keys, resolved.service_name)


def _view_read(project: str, view: ResolvedView, full_feature_names: bool) -> ViewRead:
    types = {key.name: key.value_type for key in view.join_keys}
    unsupported = [key for key, kind in types.items() if kind not in KEY_VALUE]
    if unsupported:
        raise RetrievalError(
            f"Join key(s) {', '.join(f'`{key}`' for key in unsupported)} of feature view "
            f"`{view.view_name}` have a type Feast cannot key Redis by; use STRING, BYTES or "
            "integers."
        )
    join_keys = sorted(types)
    prefix = key_prefix(join_keys)
    renamed = dict(zip(view.join_key_names, view.spine_join_keys, strict=False))
    features = view.feature_names
    dtypes = {feature.name: feature.value_type for feature in view.features}
    layouts = [FIXED_WIDTH.get(dtypes[name]) for name in features]
    fixed = [layout for layout in layouts if layout is not None]
    packed = struct.Struct("<" + "".join(f"B{code}" for _, code in fixed)) if fixed else None
    alias = view.name
    return ViewRead(
        name=view.view_name,
        request_keys=tuple(renamed.get(key, key) for key in join_keys),
        key_types=tuple(types[key] for key in join_keys),
        key_prefix=prefix,
        project=project.encode(),
        features=features,
        output_names=tuple(f"{alias}__{name}" if full_feature_names else name for name in features),
        fields=(
            *(field_name(view.view_name, name) for name in features),
            timestamp_field(view.view_name),
        ),
        ttl_micros=view.ttl // timedelta(microseconds=1) if view.ttl else None,
        packed=packed if len(fixed) == len(features) else None,
        packed_tags=tuple(tag for tag, _ in fixed),
    )
