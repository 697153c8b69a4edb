"""Terms registered through the catalog are the ones training-set building enforces."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from featurestore.catalog.entries import ObjectKind
from featurestore.catalog.registration import MetadataUpdate
from featurestore.catalog.service import CatalogService
from featurestore.metadata import RightsTerms
from featurestore.policy import PurposeNotAllowedError
from featurestore.repo import open_store
from featurestore.settings import load_settings
from featurestore.training.builder import TrainingSetRequest, build_training_set

pytestmark = pytest.mark.integration

FAA = RightsTerms(license="LicenseRef-faa", pii="none", purposes=("analytics", "serving"))


def test_a_source_forbidding_training_keeps_its_features_out_of_training_sets(
    flights_data_dir: Path, tmp_path: Path, redis_url: str
) -> None:
    shutil.copy(flights_data_dir / "registry.db", tmp_path / "registry.db")
    settings = load_settings(data_dir=tmp_path)
    catalog = CatalogService(settings, redis_url)
    catalog.update_metadata(
        ObjectKind.data_source, "planes_source", MetadataUpdate(rights=FAA), "admin:1", "admin"
    )
    spine = pa.table(
        {
            "tailnum": ["N14228"],
            "origin": ["EWR"],
            "event_timestamp": pa.array(
                [datetime(2013, 6, 1, tzinfo=UTC)], pa.timestamp("us", "UTC")
            ),
            "label": [1],
        }
    )
    request = TrainingSetRequest(
        name="refused",
        features=["weather_hourly:temp", "plane_attributes:seats"],
        spine=spine,
        label="label",
    )

    with pytest.raises(PurposeNotAllowedError) as refused:
        build_training_set(open_store(settings, redis_url), request, tmp_path / "training")

    reason = (
        "feature `plane_attributes:seats`: purpose `training` is not allowed by data source "
        "`planes_source` (allows: analytics, serving)"
    )
    assert [str(d) for d in refused.value.denials] == [reason]
    assert reason in str(refused.value)
    check = catalog.check("training", ["weather_hourly:temp", "plane_attributes:seats"])
    assert [str(d) for d in check.denials] == [reason]
    assert not (tmp_path / "training" / "refused").exists()
