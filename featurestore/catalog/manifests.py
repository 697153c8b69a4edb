"""Training sets as their manifests describe them: `<data_dir>/training/<name>/manifest.json`."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

from featurestore.catalog.entries import TrainingSetEntry

logger = logging.getLogger(__name__)

MANIFEST_GLOB = "training/*/manifest.json"


def manifest_paths(data_dir: Path) -> list[Path]:
    """Every training-set manifest under the data dir, sorted."""
    return sorted(data_dir.glob(MANIFEST_GLOB))


def manifests_fingerprint(data_dir: Path) -> tuple[tuple[str, int, int], ...]:
    """Path, size and mtime of every manifest: changes whenever a set is written."""
    fingerprint = []
    for path in manifest_paths(data_dir):
        try:
            stat = path.stat()
        except OSError:
            continue
        fingerprint.append((str(path), stat.st_size, stat.st_mtime_ns))
    return tuple(fingerprint)


def read_training_sets(data_dir: Path) -> dict[str, TrainingSetEntry]:
    """The training sets whose manifests can be read; unreadable ones are logged and skipped."""
    sets: dict[str, TrainingSetEntry] = {}
    for path in manifest_paths(data_dir):
        entry = read_manifest(path)
        if entry is not None:
            sets[entry.name] = entry
    return sets


def read_manifest(path: Path) -> TrainingSetEntry | None:
    """One manifest as a catalog entry, or None (with a warning) when it is unusable."""
    try:
        raw = json.loads(path.read_text())
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
        features = raw.get("features")
        if not isinstance(features, list) or not all(
            isinstance(ref, str) and ":" in ref for ref in features
        ):
            raise ValueError("`features` must be a list of `view:feature` strings")
        service = raw.get("feature_service")
        if service is not None and not isinstance(service, str):
            raise ValueError("`feature_service` must be a string or null")
        created = raw.get("created_at") or _mtime(path)
        return TrainingSetEntry(
            name=str(raw.get("name") or path.parent.name),
            feature_service=service,
            features=tuple(features),
            created_at=str(created),
            purpose=str(raw.get("purpose") or "training"),
            manifest_path=str(path),
        )
    except (OSError, ValueError) as exc:
        logger.warning("skipping training-set manifest `%s`: %s", path, exc)
        return None


def _mtime(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat()
