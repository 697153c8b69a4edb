"""Factories for catalog records, so pure tests build exactly the catalog they need."""

from __future__ import annotations

from featurestore.catalog.entries import (
    Catalog,
    FeatureEntry,
    ServiceEntry,
    SourceEntry,
    ViewEntry,
    ViewKind,
)
from featurestore.metadata import FieldSemantics, RightsTerms
from featurestore.policy import EffectiveRights, TermSource

OPEN = RightsTerms(license="CC0-1.0", pii="none", purposes=("analytics", "serving", "training"))


def make_rights(kind: str, name: str, terms: RightsTerms | None = OPEN) -> EffectiveRights:
    chain = (TermSource(kind, name, terms),) if terms else ()
    return EffectiveRights(kind, name, terms, chain)


def make_feature(
    view: str,
    name: str,
    description: str = "",
    *,
    unit: str | None = None,
    owner: str = "team@example.org",
    kind: ViewKind = "batch",
    entities: tuple[str, ...] = ("airport",),
    view_description: str = "",
    tags: dict[str, str] | None = None,
    terms: RightsTerms | None = OPEN,
) -> FeatureEntry:
    return FeatureEntry(
        view=view,
        name=name,
        dtype="Float64",
        description=description,
        tags=dict(tags or {}),
        semantics=FieldSemantics(unit=unit),
        view_kind=kind,
        view_description=view_description,
        owner=owner,
        view_tags={},
        entities=entities,
        rights=make_rights("feature view", view, terms),
    )


def make_catalog() -> Catalog:
    """Two sources → two views (one stream) → one service selecting one feature of each."""
    sources = {
        name: SourceEntry(
            name=name,
            source_type="FileSource",
            description=f"{name} data",
            owner="team@example.org",
            tags={},
            rights=make_rights("data source", name),
            timestamp_field="event_timestamp",
            created_timestamp_field=None,
            path=f"/data/{name}.parquet",
        )
        for name in ("weather_src", "departures_src")
    }
    views = {
        "weather": ViewEntry(
            name="weather",
            kind="batch",
            description="Hourly weather",
            owner="team@example.org",
            tags={},
            rights=make_rights("feature view", "weather"),
            entities=("airport",),
            join_keys=("origin",),
            features=("temp", "humid"),
            ttl_seconds=7200.0,
            online=True,
            batch_source="weather_src",
        ),
        "departures": ViewEntry(
            name="departures",
            kind="stream",
            description="Departures in the last hour",
            owner="team@example.org",
            tags={},
            rights=make_rights("feature view", "departures"),
            entities=("airport",),
            join_keys=("origin",),
            features=("count",),
            ttl_seconds=None,
            online=True,
            batch_source="departures_src",
        ),
    }
    features = {
        f.ref: f
        for f in (
            make_feature("weather", "temp", "Air temperature", unit="degF"),
            make_feature("weather", "humid", "Relative humidity", unit="percent"),
            make_feature("departures", "count", "Departures", kind="stream"),
        )
    }
    services = {
        "model_v1": ServiceEntry(
            name="model_v1",
            description="Features of the model",
            owner="team@example.org",
            tags={},
            features=("weather:temp", "departures:count"),
            rights=make_rights("feature service", "model_v1"),
        )
    }
    return Catalog("test", {}, sources, views, features, services)
