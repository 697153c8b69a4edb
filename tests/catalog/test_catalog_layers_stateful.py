"""Random PATCHes (every role, every kind) interleaved with `apply` of changed definitions.

After every step, against the real app over a real registry and catalog store:
- each feature's and the service's effective rights equal the most restrictive of what is
  declared and registered along its lineage, computed here from the test's own model;
- the registered layer is exactly what the successful writes named (nothing else changed);
- replaying the audit log from empty gives the registered layer.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from featurestore.api import create_app
from featurestore.apply import apply_repo
from featurestore.catalog.ledger import Ledger
from featurestore.catalog.registered import RegisteredStore, catalog_path, replay, values_of
from featurestore.settings import load_settings

pytestmark = pytest.mark.integration

PII = ("none", "pseudonymous", "personal", "sensitive")
PURPOSES = ("training", "serving", "analytics")
ROLES = ("reader", "registrar", "admin")
TOKENS = {f"{role}-token": role for role in ROLES}
# The small repo this test writes: kind → name, and each feature's lineage.
OBJECTS = {
    "entity": ("customer", "store"),
    "data_source": ("sales_source", "crm_source"),
    "feature_view": ("sales", "customers"),
    "feature_service": ("model",),
}
LINEAGE = {
    "sales:amount": [
        ("data_source", "sales_source"),
        ("entity", "store"),
        ("feature_view", "sales"),
    ],
    "customers:age": [
        ("data_source", "crm_source"),
        ("entity", "customer"),
        ("feature_view", "customers"),
    ],
}
REQUIRED = {"data_source", "feature_view"}  # kinds whose definitions must state rights


@dataclass(frozen=True)
class Terms:
    license: str
    pii: str
    purposes: frozenset[str]

    def body(self) -> dict[str, Any]:
        return {"license": self.license, "pii": self.pii, "purposes": sorted(self.purposes)}

    def code(self) -> str:
        purposes = ",".join(sorted(self.purposes))
        return f"rights(license={self.license!r}, pii={self.pii!r}, purposes={purposes!r})"


terms_strategy = st.builds(
    Terms,
    license=st.sampled_from(["CC0-1.0", "LicenseRef-crm"]),
    pii=st.sampled_from(PII),
    purposes=st.frozensets(st.sampled_from(PURPOSES), min_size=1),
)
objects_strategy = st.sampled_from(
    [(kind, name) for kind, names in OBJECTS.items() for name in names]
)


def most_restrictive(stated: list[Terms]) -> tuple[str, frozenset[str]] | None:
    """The oracle: worst PII class and the purposes every stated term allows."""
    if not stated:
        return None
    pii = max((t.pii for t in stated), key=PII.index)
    return pii, frozenset.intersection(*(t.purposes for t in stated))


def write_repo(repo: Path, data: Path, declared: dict[tuple[str, str], Terms | None]) -> None:
    def tags(kind: str, name: str, extra: str = "") -> str:
        terms = declared.get((kind, name))
        parts = [extra] if extra else []
        if terms is not None:
            parts.append(f"**{terms.code()}")
        return "{" + ", ".join(parts) + "}"

    repo.mkdir(exist_ok=True)
    (repo / "feature_store.yaml").write_text(
        "project: layers\nprovider: local\nregistry: registry.db\n"
        "online_store:\n  type: redis\n"
        "offline_store:\n  type: featurestore.offline.feast_plugin.AsofOfflineStore\n"
        "entity_key_serialization_version: 3\n"
    )
    (repo / "definitions.py").write_text(
        textwrap.dedent(
            f"""
            from datetime import timedelta

            from feast import Entity, FeatureService, FeatureView, Field, FileSource
            from feast.types import Float64, Int64

            from featurestore.definitions import rights, semantics

            customer = Entity(name="customer", join_keys=["customer_id"], owner="crm",
                description="A customer.", tags={tags("entity", "customer")})
            store = Entity(name="store", join_keys=["store_id"], owner="ops",
                description="A store.", tags={tags("entity", "store")})
            sales_source = FileSource(name="sales_source", path="{data}/sales.parquet",
                timestamp_field="event_timestamp", owner="ops", description="Sales.",
                tags={tags("data_source", "sales_source", '"origin": "pos"')})
            crm_source = FileSource(name="crm_source", path="{data}/crm.parquet",
                timestamp_field="event_timestamp", owner="crm", description="CRM.",
                tags={tags("data_source", "crm_source")})
            sales = FeatureView(name="sales", entities=[store], ttl=timedelta(days=1),
                schema=[Field(name="amount", dtype=Float64, description="Sales amount.",
                    tags=semantics(unit="USD", min=0))],
                source=sales_source, owner="ops", description="Sales per store.",
                tags={tags("feature_view", "sales")})
            customers = FeatureView(name="customers", entities=[customer], ttl=timedelta(days=1),
                schema=[Field(name="age", dtype=Int64, description="Age.",
                    tags=semantics(unit="year", min=0, max=130))],
                source=crm_source, owner="crm", description="Customer attributes.",
                tags={tags("feature_view", "customers")})
            model = FeatureService(name="model", features=[sales, customers], owner="ml",
                description="The model's features.", tags={tags("feature_service", "model")})
            """
        )
    )


def write_sources(data: Path) -> None:
    data.mkdir(parents=True, exist_ok=True)
    moment = pa.array([datetime(2024, 1, 1, tzinfo=UTC)], pa.timestamp("us", "UTC"))
    pq.write_table(
        pa.table({"store_id": [1], "amount": [10.0], "event_timestamp": moment}),
        data / "sales.parquet",
    )
    pq.write_table(
        pa.table({"customer_id": [1], "age": [40], "event_timestamp": moment}),
        data / "crm.parquet",
    )


class CatalogLayers(RuleBasedStateMachine):
    """The model: declared terms per object, registered values per object and key."""

    def __init__(self, root: Path, redis_url: str) -> None:
        super().__init__()
        self.redis_url = redis_url
        self.repo, self.data = root / "repo", root / "data"
        write_sources(self.data / "sources")
        self.declared: dict[tuple[str, str], Terms | None] = {
            (kind, name): Terms("CC0-1.0", "none", frozenset(PURPOSES))
            if kind in REQUIRED
            else None
            for kind, names in OBJECTS.items()
            for name in names
        }
        self.registered: dict[tuple[str, str], dict[str, Any]] = {}
        self.settings = load_settings(
            data_dir=self.data,
            repo_path=self.repo,
            api_tokens=TOKENS,  # type: ignore[arg-type]
        )
        self.apply()
        self.client = TestClient(
            create_app(self.settings, redis_url), raise_server_exceptions=False
        )
        self.store = RegisteredStore(Ledger(catalog_path(self.data)))

    def apply(self) -> None:
        write_repo(self.repo, self.data / "sources", self.declared)
        apply_repo(self.settings, self.redis_url)

    def teardown(self) -> None:
        self.client.close()

    def read(self, path: str) -> Any:
        response = self.client.get(path, headers={"Authorization": "Bearer reader-token"})
        assert response.status_code == 200, response.text
        return response.json()

    def patch(self, role: str, kind: str, name: str, body: dict[str, Any]) -> int:
        response = self.client.patch(
            f"/catalog/objects/{kind}/{name}",
            json=body,
            headers={"Authorization": f"Bearer {role}-token"},
        )
        return response.status_code

    @rule(role=st.sampled_from(ROLES), obj=objects_strategy, terms=terms_strategy)
    def register_rights(self, role: str, obj: tuple[str, str], terms: Terms) -> None:
        status = self.patch(role, *obj, {"rights": terms.body()})
        assert status == (200 if role == "admin" else 403)
        if status == 200:
            self.registered.setdefault(obj, {})["rights"] = terms

    @rule(role=st.sampled_from(ROLES), obj=objects_strategy)
    def lift_registered_rights(self, role: str, obj: tuple[str, str]) -> None:
        status = self.patch(role, *obj, {"rights": None})
        assert status == (200 if role == "admin" else 403)
        if status == 200:
            self.registered.get(obj, {}).pop("rights", None)

    @rule(
        role=st.sampled_from(ROLES),
        obj=objects_strategy,
        key=st.sampled_from(["owner", "description", "tier"]),
        value=st.sampled_from(["a", "b", None]),
    )
    def register_other(self, role: str, obj: tuple[str, str], key: str, value: str | None) -> None:
        body: dict[str, Any] = {"tags": {key: value}} if key == "tier" else {key: value}
        status = self.patch(role, *obj, body)
        needed = "admin" if value is None else "registrar"
        assert status == (200 if ROLES.index(role) >= ROLES.index(needed) else 403)
        if status == 200:
            stored_key = f"tags.{key}" if key == "tier" else key
            values = self.registered.setdefault(obj, {})
            if value is None:
                values.pop(stored_key, None)
            else:
                values[stored_key] = value

    @rule(obj=objects_strategy, terms=st.one_of(st.none(), terms_strategy))
    def apply_changed_definitions(self, obj: tuple[str, str], terms: Terms | None) -> None:
        if terms is None and obj[0] in REQUIRED:
            return  # apply would refuse: these kinds must state rights
        self.declared[obj] = terms
        self.apply()

    def expected_registered(self) -> dict[tuple[str, str], dict[str, Any]]:
        return {
            target: {
                key: {**value.body(), "retention_days": None, "attribution": None}
                if isinstance(value, Terms)
                else value
                for key, value in values.items()
            }
            for target, values in self.registered.items()
            if values
        }

    def stated(self, obj: tuple[str, str]) -> list[Terms]:
        declared = self.declared.get(obj)
        registered = self.registered.get(obj, {}).get("rights")
        return [t for t in (declared, registered) if t is not None]

    @invariant()
    def effective_rights_are_the_most_restrictive_along_lineage(self) -> None:
        for ref, lineage in LINEAGE.items():
            expected = most_restrictive([t for obj in lineage for t in self.stated(obj)])
            got = self.read(f"/catalog/rights/feature/{ref}")["terms"]
            assert (got["pii"], frozenset(got["purposes"])) == expected, ref
        chain = [t for lineage in LINEAGE.values() for obj in lineage for t in self.stated(obj)]
        chain += self.stated(("feature_service", "model"))
        expected = most_restrictive(chain)
        got = self.read("/catalog/rights/feature_service/model")["terms"]
        assert (got["pii"], frozenset(got["purposes"])) == expected

    @invariant()
    def the_registered_layer_is_what_writes_named_and_the_log_replays_to_it(self) -> None:
        layer = values_of(self.store.layer())
        assert layer == self.expected_registered()
        assert replay(self.store.ledger.entries()) == layer


def test_effective_rights_and_registered_layer_hold_under_random_writes(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> None:
    class Machine(CatalogLayers):
        def __init__(self) -> None:
            super().__init__(tmp_path_factory.mktemp("layers"), redis_url)

    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=4,
            stateful_step_count=8,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
