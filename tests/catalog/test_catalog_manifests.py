"""Training sets are read from their manifests; unreadable ones are skipped with a warning."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from featurestore.catalog.entries import TrainingSetEntry
from featurestore.catalog.manifests import manifests_fingerprint, read_training_sets


def write_manifest(data_dir: Path, name: str, content: object) -> Path:
    path = data_dir / "training" / name / "manifest.json"
    path.parent.mkdir(parents=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_reads_good_manifests_and_skips_bad_ones(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = write_manifest(
        tmp_path,
        "delays",
        {
            "name": "delays",
            "feature_service": "delay_model_v1",
            "features": ["weather_hourly:temp"],
            "created_at": "2024-01-01T00:00:00+00:00",
            "purpose": "training",
            "splits": {"train": 10},
        },
    )
    write_manifest(tmp_path, "broken", "{not json")
    write_manifest(tmp_path, "no_refs", {"name": "no_refs", "features": ["temp"]})

    with caplog.at_level(logging.WARNING, logger="featurestore.catalog.manifests"):
        sets = read_training_sets(tmp_path)

    assert sets == {
        "delays": TrainingSetEntry(
            name="delays",
            feature_service="delay_model_v1",
            features=("weather_hourly:temp",),
            created_at="2024-01-01T00:00:00+00:00",
            purpose="training",
            manifest_path=str(good),
        )
    }
    warnings = sorted(record.getMessage() for record in caplog.records)
    assert len(warnings) == 2
    assert "broken/manifest.json" in warnings[0]
    assert "no_refs/manifest.json" in warnings[1] and "view:feature" in warnings[1]


def test_fingerprint_changes_when_a_manifest_is_written(tmp_path: Path) -> None:
    before = manifests_fingerprint(tmp_path)
    write_manifest(tmp_path, "a", {"features": ["v:f"]})

    after = manifests_fingerprint(tmp_path)

    assert before == ()
    assert len(after) == 1 and after[0][0].endswith("a/manifest.json")
    assert read_training_sets(tmp_path)["a"].feature_service is None
