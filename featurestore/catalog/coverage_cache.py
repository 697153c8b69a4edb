"""Coverage results by source fingerprint (path, size and mtime of every file), kept in
memory and as JSON files, so a repeated question is answered without scanning."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from featurestore.catalog.coverage import (
    Bin,
    CoverageSpec,
    FeatureStats,
    ValueCount,
    ViewStats,
    compute_view_stats,
)
from featurestore.catalog.sources import SourceFiles, source_files

logger = logging.getLogger(__name__)


class CoverageCache:
    """View statistics by source fingerprint, in memory and optionally as JSON files on disk."""

    def __init__(
        self,
        directory: Path | None = None,
        max_entries: int = 256,
        *,
        compute: Callable[[CoverageSpec, SourceFiles], ViewStats] = compute_view_stats,
    ) -> None:
        """`compute` scans a source: DuckDB's by default, Spark's for a Spark repo."""
        self._compute = compute
        self._directory = directory
        self._memory: OrderedDict[str, ViewStats] = OrderedDict()
        self._max_entries = max_entries
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def view_stats(self, spec: CoverageSpec) -> tuple[ViewStats, bool]:
        """The statistics and whether they came from the cache."""
        files = source_files(spec.source_path, owner=f"feature view `{spec.view}`")
        key = spec.cache_key(files.fingerprint())
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # one computation per fingerprint, however many requests wait for it
            cached = self._lookup(key)
            if cached is not None:
                return cached, True
            stats = self._compute(spec, files)
            self._store(key, stats)
            return stats, False

    def _lookup(self, key: str) -> ViewStats | None:
        with self._guard:
            if key in self._memory:
                self._memory.move_to_end(key)
                return self._memory[key]
        if self._directory is None:
            return None
        path = self._directory / f"{key}.json"
        try:
            stats = _stats_from_json(json.loads(path.read_text()))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.warning("ignoring unreadable coverage cache `%s`: %s", path, exc)
            return None
        self._remember(key, stats)
        return stats

    def _store(self, key: str, stats: ViewStats) -> None:
        self._remember(key, stats)
        if self._directory is None:
            return
        self._directory.mkdir(parents=True, exist_ok=True)
        partial = self._directory / f".{key}.{threading.get_ident()}.partial"
        partial.write_text(json.dumps(_stats_to_json(stats)))
        partial.replace(self._directory / f"{key}.json")

    def _remember(self, key: str, stats: ViewStats) -> None:
        with self._guard:
            self._memory[key] = stats
            self._memory.move_to_end(key)
            while len(self._memory) > self._max_entries:
                self._memory.popitem(last=False)


def _stats_to_json(stats: ViewStats) -> dict[str, Any]:
    raw = dataclasses.asdict(stats)
    for key in ("computed_at", "first_event", "last_event", "last_created"):
        raw[key] = raw[key].isoformat() if raw[key] is not None else None
    return raw


def _stats_from_json(raw: dict[str, Any]) -> ViewStats:
    for key in ("computed_at", "first_event", "last_event", "last_created"):
        raw[key] = datetime.fromisoformat(raw[key]) if raw[key] is not None else None
    raw["features"] = tuple(
        FeatureStats(
            **{
                **feature,
                "histogram": tuple(Bin(**b) for b in feature["histogram"]),
                "top_values": tuple(ValueCount(**v) for v in feature["top_values"]),
            }
        )
        for feature in raw["features"]
    )
    return ViewStats(**raw)
