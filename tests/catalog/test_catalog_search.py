"""Ranked search over features: relevance, filters, facets and pagination."""

from __future__ import annotations

from catalog_factories import make_feature

from featurestore.catalog.search import SearchFilters, SearchIndex, tokenize
from featurestore.metadata import RightsTerms

PERSONAL = RightsTerms(license="LicenseRef-crm", pii="personal", purposes=("serving",))


def index() -> SearchIndex:
    return SearchIndex(
        [
            make_feature("weather", "temp", "Air temperature at the airport", unit="degF"),
            make_feature("weather", "dewp", "Dew point temperature", unit="degF"),
            make_feature("weather", "wind_speed", "Wind speed", unit="mph"),
            make_feature(
                "departures",
                "departures_60m",
                "Flights that departed in the last hour",
                kind="stream",
                owner="stream-team@example.org",
            ),
            make_feature(
                "customers",
                "lifetime_value",
                "Revenue of the customer",
                entities=("customer",),
                terms=PERSONAL,
                tags={"domain": "crm"},
            ),
        ]
    )


def refs(result: object) -> list[str]:
    return [hit.feature.ref for hit in result.hits]  # type: ignore[attr-defined]


def test_tokenize_lowercases_splits_and_drops_plural_s() -> None:
    assert tokenize("Departures_60m in WIND-speeds") == ["departure", "60m", "in", "wind", "speed"]


def test_a_name_match_ranks_above_a_description_match() -> None:
    result = index().search("temp")

    assert refs(result) == ["weather:temp", "weather:dewp"]
    assert result.hits[0].score > result.hits[1].score > 0


def test_every_query_word_must_match_when_some_feature_matches_all() -> None:
    assert refs(index().search("dew temperature")) == ["weather:dewp"]


def test_falls_back_to_any_word_when_none_matches_all() -> None:
    assert refs(index().search("wind revenue")) == [
        "weather:wind_speed",
        "customers:lifetime_value",
    ]


def test_searches_owners_tags_and_units() -> None:
    search = index().search
    assert refs(search("stream-team")) == ["departures:departures_60m"]
    assert refs(search("crm")) == ["customers:lifetime_value"]
    assert refs(search("mph")) == ["weather:wind_speed"]


def test_filters_combine_and_facets_count_the_matches() -> None:
    result = index().search("", SearchFilters(purpose="training", kind="batch"))

    assert refs(result) == ["weather:dewp", "weather:temp", "weather:wind_speed"]
    assert result.total == 3
    assert result.facets["kind"] == [("batch", 3)]
    assert result.facets["tag"] == [("unit=degF", 2), ("unit=mph", 1)]


def test_filters_by_pii_entity_owner_and_tag() -> None:
    search = index().search
    assert refs(search("", SearchFilters(pii="personal"))) == ["customers:lifetime_value"]
    assert refs(search("", SearchFilters(entity="customer"))) == ["customers:lifetime_value"]
    assert refs(search("", SearchFilters(tag="domain=crm"))) == ["customers:lifetime_value"]
    assert refs(search("", SearchFilters(tag="domain"))) == ["customers:lifetime_value"]
    assert search("", SearchFilters(owner="nobody")).total == 0


def test_a_purpose_not_allowed_filters_a_feature_out() -> None:
    result = index().search("revenue", SearchFilters(purpose="training"))

    assert result.total == 0
    assert result.hits == []


def test_pages_through_all_results_in_a_stable_order() -> None:
    pages = [index().search("", page=page, page_size=2) for page in (1, 2, 3)]

    assert [refs(page) for page in pages] == [
        ["customers:lifetime_value", "departures:departures_60m"],
        ["weather:dewp", "weather:temp"],
        ["weather:wind_speed"],
    ]
    assert {page.total for page in pages} == {5}
