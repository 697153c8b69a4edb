"""Rights propagate along lineage and the most restrictive term wins."""

from __future__ import annotations

from datetime import timedelta

import pytest
from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.types import Float64

from featurestore.definitions import rights
from featurestore.metadata import RightsTerms
from featurestore.policy import Denial, Policy, PurposeNotAllowedError, combine

store = Entity(name="store", join_keys=["store_id"], value_type=ValueType.INT64)


def make_source(name: str, **terms: object) -> FileSource:
    return FileSource(
        name=name,
        path=f"/data/{name}.parquet",
        timestamp_field="event_timestamp",
        tags=rights(**terms) if terms else {},  # type: ignore[arg-type]
    )


def make_view(name: str, source: FileSource, **terms: object) -> FeatureView:
    return FeatureView(
        name=name,
        entities=[store],
        ttl=timedelta(days=1),
        schema=[Field(name=f"{name}_value", dtype=Float64)],
        source=source,
        tags=rights(**terms) if terms else {},  # type: ignore[arg-type]
    )


OPEN = {"license": "CC0-1.0", "pii": "none", "purposes": "training,serving,analytics"}
PERSONAL = {
    "license": "LicenseRef-crm",
    "pii": "personal",
    "purposes": "serving,analytics",
    "retention_days": 90,
}


@pytest.fixture
def policy() -> Policy:
    open_source = make_source("sales", **OPEN)
    crm_source = make_source("crm", **PERSONAL)
    sales = make_view("sales", open_source, **OPEN)
    customers = make_view("customers", crm_source, **OPEN)
    unlabelled = make_view("unlabelled", make_source("raw"))
    service = FeatureService(name="model", features=[sales, customers])
    return Policy(
        data_sources=[open_source, crm_source],
        feature_views=[sales, customers, unlabelled],
        feature_services=[service],
    )


def test_combine_keeps_the_most_restrictive_terms() -> None:
    combined = combine([RightsTerms.model_validate(OPEN), RightsTerms.model_validate(PERSONAL)])

    assert combined == RightsTerms(
        license="CC0-1.0 AND LicenseRef-crm",
        pii="personal",
        purposes=("analytics", "serving"),
        retention_days=90,
    )


def test_view_is_at_most_as_permissive_as_its_source(policy: Policy) -> None:
    effective = policy.view_rights("customers")

    assert effective.terms is not None
    assert effective.terms.purposes == ("analytics", "serving")
    assert [(link.kind, link.name) for link in effective.chain] == [
        ("data source", "crm"),
        ("feature view", "customers"),
    ]


def test_service_is_the_intersection_of_its_views(policy: Policy) -> None:
    effective = policy.service_rights("model")

    assert effective.terms is not None
    assert (effective.terms.pii, effective.terms.purposes, effective.terms.retention_days) == (
        "personal",
        ("analytics", "serving"),
        90,
    )


def test_check_allows_a_permitted_purpose(policy: Policy) -> None:
    decision = policy.check("serving", ["sales:sales_value", "customers:customers_value"])

    assert decision.allowed
    assert decision.denials == ()


def test_refusal_names_feature_purpose_and_source_term(policy: Policy) -> None:
    decision = policy.check("training", ["sales:sales_value", "customers:customers_value"])

    assert decision.denials == (
        Denial(
            "customers:customers_value", "training", "data source", "crm", ("analytics", "serving")
        ),
    )
    with pytest.raises(PurposeNotAllowedError) as raised:
        decision.raise_if_denied()
    assert str(raised.value) == (
        "Purpose `training` is not allowed for `customers:customers_value`: feature "
        "`customers:customers_value`: purpose `training` is not allowed by data source `crm` "
        "(allows: analytics, serving). Drop those features or register terms that allow "
        "the purpose."
    )


def test_features_without_terms_are_denied_every_purpose(policy: Policy) -> None:
    decision = policy.check("analytics", ["unlabelled:unlabelled_value"])

    assert not decision.allowed
    assert "no rights terms" in str(decision.denials[0])
