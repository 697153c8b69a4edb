"""Metadata writes land in the registered layer (never the Feast registry), are validated like
`apply`, and never get lost."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from featurestore.catalog.entries import ModelEntry, ObjectKind
from featurestore.catalog.registration import FieldUpdate, MetadataUpdate
from featurestore.catalog.service import CatalogService
from featurestore.errors import MetadataErrors, ObjectNotFoundError
from featurestore.metadata import RightsTerms
from featurestore.policy import PurposeNotAllowedError
from featurestore.repo import open_store
from featurestore.settings import load_settings

pytestmark = pytest.mark.integration


@pytest.fixture
def service(flights_data_dir: Path, tmp_path: Path, redis_url: str) -> CatalogService:
    """A catalog over a private copy of the applied flights registry."""
    shutil.copy(flights_data_dir / "registry.db", tmp_path / "registry.db")
    return CatalogService(load_settings(data_dir=tmp_path), redis_url)


def test_update_is_registered_beside_the_registry_and_audited(
    service: CatalogService, redis_url: str
) -> None:
    registry_before = (service.settings.registry_path).read_bytes()
    update = MetadataUpdate(
        owner="weather-team@example.org",
        tags={"tier": "gold"},
        fields={"temp": FieldUpdate(description="Air temperature, 2 m above ground.")},
    )

    result = service.update_metadata(
        ObjectKind.feature_view, "weather_hourly", update, "registrar:1", "registrar"
    )

    assert service.settings.registry_path.read_bytes() == registry_before
    view = open_store(service.settings, redis_url).get_feature_view("weather_hourly")
    assert view.owner == "flight-ops-ml@example.org"  # the declared value is untouched
    registered = service.registered.get("feature_view", "weather_hourly")
    assert {key: value.value for key, value in registered.values.items()} == {
        "owner": "weather-team@example.org",
        "tags.tier": "gold",
        "fields.temp.description": "Air temperature, 2 m above ground.",
    }
    assert registered.version == result.metadata.version == 1
    entry = result.audit
    assert entry is not None
    assert sorted(entry.changes) == ["fields.temp.description", "owner", "tags.tier"]
    assert entry.changes["tags.tier"] == {"before": None, "after": "gold", "registered": "gold"}
    assert entry.changes["owner"] == {
        "before": "flight-ops-ml@example.org",
        "after": "weather-team@example.org",
        "registered": "weather-team@example.org",
    }
    assert (entry.actor, entry.action, entry.object_name) == (
        "registrar:1",
        "update_metadata",
        "weather_hourly",
    )
    card = service.feature("weather_hourly", "temp")  # the snapshot follows the registered layer
    assert (card.owner, card.description) == (
        "weather-team@example.org",
        "Air temperature, 2 m above ground.",
    )
    assert card.provenance["description"].startswith("registered by registrar:1 at ")
    assert card.provenance["semantics"] == "from definitions"


def test_a_write_that_changes_nothing_records_nothing(service: CatalogService) -> None:
    update = MetadataUpdate(tags={"tier": "gold"})
    first = service.update_metadata(ObjectKind.entity, "airport", update, "r:1", "registrar")
    again = service.update_metadata(ObjectKind.entity, "airport", update, "r:1", "registrar")

    assert first.audit is not None
    assert again.audit is None
    assert again.metadata.version == first.metadata.version == 1
    assert service.audit(10, 0, "entity", "airport")[0] == 1


def test_invalid_metadata_is_refused_naming_each_field(service: CatalogService) -> None:
    update = MetadataUpdate(
        owner="",
        tags={"rights.pii": "none"},
        fields={"temp": FieldUpdate(semantics={"min": 5, "max": 1}), "nope": FieldUpdate()},
    )

    with pytest.raises(MetadataErrors) as raised:
        service.update_metadata(ObjectKind.feature_view, "weather_hourly", update, "r:1", "admin")

    assert [e.field for e in raised.value.errors] == [
        "tags[rights.pii]",
        "fields[temp].semantics.range",
        "fields[nope]",
    ]
    with pytest.raises(MetadataErrors) as raised:
        service.update_metadata(
            ObjectKind.entity, "airport", MetadataUpdate(owner=" "), "r:1", "admin"
        )
    assert str(raised.value) == (
        "entity `airport`: `owner` is missing; set `owner=` to the team or person responsible"
    )


def test_rights_change_propagates_to_the_check(service: CatalogService) -> None:
    terms = RightsTerms(license="LicenseRef-noaa", pii="none", purposes=("analytics",))

    service.update_metadata(
        ObjectKind.data_source,
        "weather_hourly_source",
        MetadataUpdate(rights=terms),
        "a:1",
        "admin",
    )

    decision = service.check("training", ["weather_hourly:temp", "plane_attributes:seats"])
    assert [str(d) for d in decision.denials] == [
        "feature `weather_hourly:temp`: purpose `training` is not allowed by data source "
        "`weather_hourly_source` (allows: analytics)"
    ]


def test_unknown_object_is_named(service: CatalogService) -> None:
    with pytest.raises(ObjectNotFoundError, match="feature view `nope` does not exist"):
        service.update_metadata(ObjectKind.feature_view, "nope", MetadataUpdate(), "r:1", "admin")


def test_twenty_concurrent_updates_all_land(service: CatalogService, redis_url: str) -> None:
    def tag(i: int) -> None:
        update = MetadataUpdate(tags={f"reviewer_{i}": f"person-{i}"})
        service.update_metadata(
            ObjectKind.feature_view, "carrier_daily_stats", update, f"registrar:{i}", "registrar"
        )

    with ThreadPoolExecutor(max_workers=20) as pool:
        list(pool.map(tag, range(20)))

    view = service.view("carrier_daily_stats")
    assert {k: v for k, v in view.tags.items() if k.startswith("reviewer_")} == {
        f"reviewer_{i}": f"person-{i}" for i in range(20)
    }
    assert view.version == 20
    total, entries = service.audit(100, 0, "feature_view", "carrier_daily_stats")
    assert total == 20
    assert sorted(e.actor for e in entries) == sorted(f"registrar:{i}" for i in range(20))


def test_twenty_concurrent_model_registrations_all_land(service: CatalogService) -> None:
    def register(i: int) -> None:
        model = ModelEntry(
            name=f"model_{i}",
            feature_service="delay_model_v1",
            training_set=None,
            purposes=("serving", "training"),
            owner="ml@example.org",
            description=f"Model {i}",
            registered_at="2024-01-01T00:00:00+00:00",
            registered_by=f"registrar:{i}",
        )
        service.register_model(model, "registrar")

    with ThreadPoolExecutor(max_workers=20) as pool:
        list(pool.map(register, range(20)))

    assert sorted(service.snapshot().consumers.models) == sorted(f"model_{i}" for i in range(20))
    total, entries = service.audit(100, 0, "model", None)
    assert total == 20
    assert {e.action for e in entries} == {"register_model"}


def test_a_model_may_not_use_features_for_a_purpose_they_forbid(service: CatalogService) -> None:
    service.update_metadata(
        ObjectKind.data_source,
        "planes_source",
        MetadataUpdate(rights=RightsTerms(license="CC0-1.0", pii="none", purposes=("serving",))),
        "a:1",
        "admin",
    )
    model = ModelEntry(
        name="m",
        feature_service="delay_model_v1",
        training_set=None,
        purposes=("training",),
        owner="ml@example.org",
        description="d",
        registered_at="2024-01-01T00:00:00+00:00",
        registered_by="registrar:1",
    )

    with pytest.raises(PurposeNotAllowedError) as raised:
        service.register_model(model, "registrar")

    assert [d.feature for d in raised.value.denials] == [
        "plane_attributes:year_built",
        "plane_attributes:seats",
        "plane_attributes:engines",
    ]
    assert "not allowed by data source `planes_source` (allows: serving)" in str(raised.value)
    assert service.snapshot().consumers.models == {}
