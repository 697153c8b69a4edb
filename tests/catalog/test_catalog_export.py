"""`catalog export` prints the registered layer as code; `--prune` drops what code now says."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from featurestore.catalog.entries import ObjectKind
from featurestore.catalog.export import export_code, prune_repo, select
from featurestore.catalog.registered import replay, values_of
from featurestore.catalog.registration import FieldUpdate, MetadataUpdate
from featurestore.catalog.service import CatalogService
from featurestore.definitions import rights, semantics
from featurestore.inventory import catalog_objects
from featurestore.metadata import CatalogObject, RightsTerms
from featurestore.repo import load_definitions
from featurestore.settings import load_settings

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2] / "feature_repo"
NOAA = RightsTerms(license="LicenseRef-noaa", pii="none", purposes=("analytics", "serving"))


@pytest.fixture
def service(flights_data_dir: Path, tmp_path: Path, redis_url: str) -> CatalogService:
    shutil.copy(flights_data_dir / "registry.db", tmp_path / "registry.db")
    return CatalogService(load_settings(data_dir=tmp_path, repo_path=REPO), redis_url)


@pytest.fixture
def declared(service: CatalogService) -> list[CatalogObject]:
    return catalog_objects(load_definitions(service.settings))


def test_export_prints_effective_values_as_code_to_paste(
    service: CatalogService, declared: list[CatalogObject]
) -> None:
    service.update_metadata(
        ObjectKind.feature_view,
        "weather_hourly",
        MetadataUpdate(
            description="Hourly METAR weather.",
            tags={"tier": "gold"},
            fields={"temp": FieldUpdate(semantics={"unit": "degF", "min": -50, "max": 130})},
            rights=NOAA,
        ),
        "data-governance",
        "admin",
    )

    code = export_code(
        select(declared, ("feature_view", "weather_hourly")), service.registered.layer()
    )

    lines = code.splitlines()
    assert lines[0] == (
        "# feature view `weather_hourly`: registered description, fields.temp.semantics, rights, "
        "tags.tier"
    )
    assert lines[1] == "description='Hourly METAR weather.',"
    tags = eval(lines[2].removeprefix("tags=").rstrip(","), {"rights": rights})
    assert tags == {
        "tier": "gold",
        **rights(license="CC0-1.0 AND LicenseRef-noaa", pii="none", purposes="analytics,serving"),
    }
    field_line = lines[3]
    assert field_line.startswith("# field `temp`: Field(name='temp', ..., description=")
    field_tags = field_line.split("tags=", 1)[1].removesuffix(")")
    assert eval(field_tags, {"semantics": semantics}) == semantics(unit="degF", min=-50, max=130)
    assert export_code(select(declared, ("entity", "airport")), service.registered.layer()) == ""


def test_prune_drops_only_values_the_definitions_now_equal(
    service: CatalogService, declared: list[CatalogObject]
) -> None:
    airport = next(obj for obj in declared if obj.name == "airport")
    service.update_metadata(
        ObjectKind.entity,
        "airport",
        MetadataUpdate(description=airport.description, tags={"tier": "gold"}),
        "registrar:1",
        "registrar",
    )
    open_data = RightsTerms(
        license="CC0-1.0", pii="none", purposes=("training", "serving", "analytics", "research")
    )
    service.update_metadata(
        ObjectKind.feature_view,
        "route_attributes",
        MetadataUpdate(rights=open_data),
        "data-governance",
        "admin",
    )
    service.update_metadata(
        ObjectKind.data_source,
        "routes_source",
        MetadataUpdate(rights=NOAA),
        "data-governance",
        "admin",
    )

    pruned = prune_repo(declared, service.registered)

    assert [(p.kind, p.name, p.keys) for p in pruned] == [
        ("entity", "airport", ("description",)),
        ("feature_view", "route_attributes", ("rights",)),
    ]
    layer = service.registered.layer()
    assert values_of(layer) == {
        ("entity", "airport"): {"tags.tier": "gold"},
        ("data_source", "routes_source"): {"rights": NOAA.model_dump(mode="json")},
    }
    assert replay(service.ledger.entries()) == values_of(layer)
    assert prune_repo(declared, service.registered) == []


def test_export_command_prints_one_object(service: CatalogService, redis_url: str) -> None:
    service.update_metadata(
        ObjectKind.data_source,
        "planes_source",
        MetadataUpdate(owner="faa-data@example.org"),
        "registrar:1",
        "registrar",
    )
    data_dir = str(service.settings.data_dir)
    command = [sys.executable, "-m", "featurestore", "catalog", "export", "--repo", str(REPO)]

    result = subprocess.run(
        [*command, "--data-dir", data_dir, "--object", "data_source/planes_source"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"# Repo: {REPO.resolve()} · Data: {Path(data_dir).resolve()}",
        "# data source `planes_source`: registered owner",
        "owner='faa-data@example.org',",
    ]
