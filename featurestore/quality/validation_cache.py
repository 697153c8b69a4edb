"""Validation results by source fingerprint (path, size and mtime of every file) and rules,
kept as JSON files, so an unchanged source is not scanned again.

A result that counted event times in the future is never reused: that count depends on the
clock, every other rule only on the data.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from featurestore.quality.validate import ValidationSpec, ViewValidation, validate_view

logger = logging.getLogger(__name__)

CACHE_FORMAT = 1


class ValidationCache:
    """The latest validation per view and fingerprint, in `directory` (none: no caching)."""

    def __init__(self, directory: Path | None) -> None:
        self._directory = directory

    def validate(
        self, con: duckdb.DuckDBPyConnection, spec: ValidationSpec, *, now: datetime | None = None
    ) -> tuple[ViewValidation, bool]:
        """The validation of `spec`'s source, and whether it came from the cache."""
        fingerprint = spec.location.fingerprint()
        key = _cache_key(spec, fingerprint) if fingerprint else None
        if key is not None:
            cached = self._lookup(key)
            if cached is not None and not _clock_dependent(cached):
                return cached, True
        validation = validate_view(con, spec, now=now)
        if key is not None:
            self._store(key, validation)
        return validation, False

    def latest(self, view: str) -> ViewValidation | None:
        """The most recent stored validation of `view`, whatever its fingerprint."""
        if self._directory is None or not self._directory.is_dir():
            return None
        latest: ViewValidation | None = None
        newest: tuple[datetime, int] | None = None
        for path in self._directory.glob("*.json"):
            try:
                raw = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if raw.get("view") != view:
                continue
            found = _parse(raw, path)
            if found is None:
                continue
            order = (found.checked_at, path.stat().st_mtime_ns)  # the last written wins a tie
            if newest is None or order > newest:
                latest, newest = found, order
        return latest

    def _lookup(self, key: str) -> ViewValidation | None:
        if self._directory is None:
            return None
        path = self._directory / f"{key}.json"
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            logger.warning("ignoring unreadable validation cache `%s`: %s", path, exc)
            return None
        return _parse(raw, path)

    def _store(self, key: str, validation: ViewValidation) -> None:
        if self._directory is None:
            return
        self._directory.mkdir(parents=True, exist_ok=True)
        partial = self._directory / f".{key}.{threading.get_ident()}.partial"
        partial.write_text(json.dumps(validation.to_json()))
        partial.replace(self._directory / f"{key}.json")


def _parse(raw: dict[str, Any], path: Path) -> ViewValidation | None:
    try:
        return ViewValidation.from_json(raw)
    except (KeyError, TypeError, ValueError) as exc:
        logger.warning("ignoring unreadable validation cache `%s`: %s", path, exc)
        return None


def _cache_key(spec: ValidationSpec, fingerprint: str) -> str:
    text = json.dumps([CACHE_FORMAT, asdict(spec), fingerprint], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _clock_dependent(validation: ViewValidation) -> bool:
    return any(r.rule == "future_event" and r.failed for r in validation.results)
