"""Helpers for writing feature repo definitions: rights tags, field semantics, data paths."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from featurestore.metadata import FieldSemantics, PiiClass, RightsTerms

_data_dir: contextvars.ContextVar[Path | None] = contextvars.ContextVar(
    "featurestore_definitions_data_dir", default=None
)


def rights(
    *,
    license: str,
    pii: PiiClass,
    purposes: str | tuple[str, ...],
    retention_days: int | None = None,
    attribution: str | None = None,
) -> dict[str, str]:
    """Rights-to-use tags for a Feast object; validated now, so a typo fails at import."""
    terms = RightsTerms.model_validate(
        {
            "license": license,
            "pii": pii,
            "purposes": purposes,
            "retention_days": retention_days,
            "attribution": attribution,
        }
    )
    return terms.to_tags()


def semantics(
    *,
    unit: str | None = None,
    min: float | None = None,
    max: float | None = None,
    allowed: str | tuple[str, ...] | None = None,
    nullable: bool = True,
) -> dict[str, str]:
    """Field tags that say what a field's values mean."""
    return FieldSemantics.model_validate(
        {"unit": unit, "min": min, "max": max, "allowed": allowed, "nullable": nullable}
    ).to_tags()


EVENT_TAG_PREFIX = "event."


def event_semantics(field: str, **terms: Any) -> dict[str, str]:
    """Tags on a stream source stating what one event field may hold; the consumer enforces them."""
    return {f"{EVENT_TAG_PREFIX}{field}.{key}": value for key, value in semantics(**terms).items()}


def data_path(relative: str) -> str:
    """Absolute path of a file under the active data dir (Feast resolves paths against the CWD)."""
    return str((active_data_dir() / relative).resolve())


def active_data_dir() -> Path:
    """The data dir definitions are being loaded for: set by `featurestore apply`, else settings."""
    explicit = _data_dir.get()
    if explicit is not None:
        return explicit
    from featurestore.settings import load_settings

    return load_settings().data_dir


@contextlib.contextmanager
def using_data_dir(data_dir: Path) -> Iterator[None]:
    """Load definitions against `data_dir` instead of the settings' one."""
    token = _data_dir.set(data_dir.resolve())
    try:
        yield
    finally:
        _data_dir.reset(token)
