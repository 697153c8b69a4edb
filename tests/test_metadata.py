"""Catalog metadata validation: good definitions pass, each kind of gap is named."""

from __future__ import annotations

from dataclasses import replace

import pytest

from featurestore.definitions import rights, semantics
from featurestore.errors import MetadataError
from featurestore.metadata import (
    CatalogField,
    CatalogObject,
    RightsTerms,
    parse_rights,
    parse_semantics,
    validate_objects,
)

OPEN = rights(license="CC0-1.0", pii="none", purposes="training,serving")


def make_view(**changes: object) -> CatalogObject:
    view = CatalogObject(
        kind="feature view",
        name="weather_hourly",
        owner="ml@example.org",
        description="Hourly weather.",
        tags=OPEN,
        fields=(
            CatalogField("temp", "Float64", "Air temperature.", semantics(unit="degF", max=120)),
            CatalogField("station", "String", "Station name.", {}),
        ),
    )
    return replace(view, **changes)  # type: ignore[arg-type]


def problems(obj: CatalogObject) -> list[tuple[str, str, str]]:
    return [(e.object_kind, e.object_name, e.field) for e in validate_objects([obj])]


def test_complete_definition_has_no_problems() -> None:
    assert validate_objects([make_view()]) == []


def test_missing_owner_names_object_and_field() -> None:
    errors = validate_objects([make_view(owner="")])

    assert [str(e) for e in errors] == [
        "feature view `weather_hourly`: `owner` is missing; set `owner=` to the team or "
        "person responsible"
    ]


def test_missing_description_is_reported() -> None:
    assert problems(make_view(description="  ")) == [
        ("feature view", "weather_hourly", "description")
    ]


def test_each_missing_rights_term_is_reported() -> None:
    tags = {"rights.license": "CC0-1.0"}

    assert problems(make_view(tags=tags)) == [
        ("feature view", "weather_hourly", "tags[rights.pii]"),
        ("feature view", "weather_hourly", "tags[rights.purposes]"),
    ]


def test_objects_that_derive_rights_need_none() -> None:
    service = CatalogObject(
        "feature service", "svc", "ml@example.org", "A model's features.", {}, needs_rights=False
    )

    assert validate_objects([service]) == []


def test_invalid_pii_class_names_the_value() -> None:
    tags = {**OPEN, "rights.pii": "secret"}

    errors = validate_objects([make_view(tags=tags)])

    assert len(errors) == 1
    assert errors[0].field == "tags[rights.pii]"
    assert "`secret`" in str(errors[0])


def test_unknown_rights_key_is_reported() -> None:
    tags = {**OPEN, "rights.licence": "MIT"}

    assert problems(make_view(tags=tags)) == [
        ("feature view", "weather_hourly", "tags[rights.licence]")
    ]


def test_numeric_field_without_unit_is_reported() -> None:
    fields = (CatalogField("temp", "Float64", "Air temperature.", {}),)

    assert problems(make_view(fields=fields)) == [
        ("feature view", "weather_hourly", "fields[temp].tags[unit]")
    ]


def test_field_without_description_is_reported() -> None:
    fields = (CatalogField("station", "String", "", {}),)

    assert problems(make_view(fields=fields)) == [
        ("feature view", "weather_hourly", "fields[station].description")
    ]


def test_inverted_range_is_reported() -> None:
    fields = (CatalogField("temp", "Float64", "T.", {"unit": "degF", "min": "10", "max": "1"}),)

    errors = validate_objects([make_view(fields=fields)])

    assert [str(e) for e in errors] == [
        "feature view `weather_hourly`: `fields[temp].tags` is invalid: "
        "min `10.0` is greater than max `1.0`"
    ]


def test_rights_round_trip_through_tags() -> None:
    terms = RightsTerms(
        license="CC-BY-4.0",
        pii="pseudonymous",
        purposes=("serving", "training"),
        retention_days=30,
        attribution="Example Org",
    )

    assert parse_rights(terms.to_tags()) == terms


def test_semantics_round_trip_through_tags() -> None:
    tags = semantics(unit="mph", min=0, max=250, allowed=None, nullable=False)

    assert parse_semantics(tags).model_dump() == {
        "unit": "mph",
        "min": 0.0,
        "max": 250.0,
        "allowed": None,
        "nullable": False,
    }


def test_rights_helper_rejects_typos_at_definition_time() -> None:
    with pytest.raises(ValueError, match="SPDX"):
        rights(license="free for all", pii="none", purposes="training")


def test_errors_are_feature_store_errors() -> None:
    error = validate_objects([make_view(owner="")])[0]

    assert isinstance(error, MetadataError)
