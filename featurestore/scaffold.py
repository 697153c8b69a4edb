"""`featurestore init`: a new repo that applies, builds a training set and serves at once.

The minimal template is one entity, one Parquet source, one feature view and one feature
service, with every catalog field filled in and commented, plus tiny source and spine files
(µs UTC timestamps) so the first `apply` and `training-set` work before any data of one's own.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from featurestore.errors import ConfigError
from featurestore.offline.arrow_io import write_parquet

REPO_FOLDER = "feature_repo"
SOURCE_FILE = "sources/customer_daily_stats.parquet"
SPINE_FILE = "spines/orders.parquet"
FEATURE_SERVICE = "return_model_v1"
LABEL = "returned"


MINIMAL = "minimal"
"""The template for a team's own data."""


@dataclass(frozen=True)
class Scaffolded:
    """What `init` wrote, and the commands to run next (from `root`)."""

    root: Path
    repo_path: Path
    data_dir: Path
    files: list[Path]
    next_commands: list[str]


def init_repo(root: Path, template: str = MINIMAL) -> Scaffolded:
    """Write `root/feature_repo/` and `root/data/`; refuse to overwrite an existing repo.

    `template` is `minimal` (your own data) or the name of an example (`featurestore.examples`).
    """
    repo_path = root / REPO_FOLDER
    _refuse_existing(root, repo_path)
    data_dir = root / "data"
    if template != MINIMAL:
        from featurestore.examples import example

        scaffolded: Scaffolded = example(template).scaffold_repo(root)
        return scaffolded
    project = _project_name(root)
    repo_path.mkdir(parents=True, exist_ok=True)
    files = [
        _write(repo_path / "feature_store.yaml", _FEATURE_STORE_YAML.format(project=project)),
        _write(repo_path / "features.py", _FEATURES_PY),
    ]
    files.append(_write_source(data_dir / SOURCE_FILE))
    files.append(_write_spine(data_dir / SPINE_FILE))
    return Scaffolded(
        root=root,
        repo_path=repo_path,
        data_dir=data_dir,
        files=files,
        next_commands=[
            "featurestore apply",
            f"featurestore training-set first_set --features {FEATURE_SERVICE} "
            f"--spine data/{SPINE_FILE} --label {LABEL}",
        ],
    )


def copied_repo(root: Path, source_repo: Path, next_commands: list[str]) -> Scaffolded:
    """A repo made by copying `source_repo` (an example's) to `root/feature_repo/`."""
    repo_path = root / REPO_FOLDER
    _refuse_existing(root, repo_path)
    shutil.copytree(
        source_repo, repo_path, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True
    )
    return Scaffolded(
        root=root,
        repo_path=repo_path,
        data_dir=root / "data",
        files=sorted(repo_path.iterdir()),
        next_commands=next_commands,
    )


def _refuse_existing(root: Path, repo_path: Path) -> None:
    if (repo_path / "feature_store.yaml").exists():
        raise ConfigError(
            "init",
            root,
            f"`{repo_path}` already holds a feature repo; pick another folder or remove it",
        )


def _project_name(root: Path) -> str:
    """Feast project names are letters, digits and underscores, starting with a letter."""
    name = re.sub(r"[^A-Za-z0-9_]+", "_", root.resolve().name).strip("_").lower()
    if not name or not name[0].isalpha():
        name = f"repo_{name}" if name else "my_repo"
    return name


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


_START = datetime(2024, 1, 1, tzinfo=UTC)
_CUSTOMERS = ("C001", "C002", "C003")


def _write_source(path: Path) -> Path:
    """Daily per-customer aggregates, stamped at the end of their day (midnight) and
    published six hours later."""
    rows: dict[str, list[object]] = {
        "customer_id": [],
        "event_timestamp": [],
        "created_timestamp": [],
        "orders_7d": [],
        "spend_7d": [],
    }
    for day in range(14):
        for number, customer in enumerate(_CUSTOMERS):
            stamp = _START + timedelta(days=day + 1)
            rows["customer_id"].append(customer)
            rows["event_timestamp"].append(stamp)
            rows["created_timestamp"].append(stamp + timedelta(hours=6))
            rows["orders_7d"].append((day + number) % 5)
            rows["spend_7d"].append(round(12.5 * ((day * (number + 1)) % 7), 2))
    table = pa.table(
        rows,
        schema=pa.schema(
            [
                ("customer_id", pa.string()),
                ("event_timestamp", pa.timestamp("us", tz="UTC")),
                ("created_timestamp", pa.timestamp("us", tz="UTC")),
                ("orders_7d", pa.int64()),
                ("spend_7d", pa.float64()),
            ]
        ),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_parquet(table, path)
    return path


def _write_spine(path: Path) -> Path:
    """Orders to learn from: who ordered when, and whether the order was returned."""
    customers, times, labels = [], [], []
    for order in range(40):
        customers.append(_CUSTOMERS[order % len(_CUSTOMERS)])
        times.append(_START + timedelta(days=2, hours=7 + order * 7))
        labels.append(int(order % 4 == 0))
    table = pa.table(
        {"customer_id": customers, "event_timestamp": times, LABEL: labels},
        schema=pa.schema(
            [
                ("customer_id", pa.string()),
                ("event_timestamp", pa.timestamp("us", tz="UTC")),
                (LABEL, pa.int64()),
            ]
        ),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_parquet(table, path)
    return path


_FEATURE_STORE_YAML = """\
# Feast configuration of this repo. `featurestore` commands take the registry (under the data
# dir) and Redis (FEATURESTORE_REDIS_URL) from their settings; plain `feast` commands run from
# this folder use the values below.
project: {project}
provider: local
registry: ../data/registry.db
online_store:
  type: redis
  connection_string: ${{FEATURESTORE_REDIS_CONNECTION}}
offline_store:
  # featurestore's point-in-time engine: DuckDB ASOF joins that see a row only once it was
  # created (published), not merely stamped.
  type: featurestore.offline.feast_plugin.AsofOfflineStore
entity_key_serialization_version: 3
"""

_FEATURES_PY = '''\
"""Definitions of this repo: one entity, one source, one feature view, one feature service.

`featurestore apply` refuses any object without an owner and a description, any source or view
without rights (license, personal-data class, allowed purposes), any field without a
description, and any numeric field without a unit. Edit the values below to describe your data.
"""

from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.types import Float64, Int64

from featurestore.definitions import data_path, rights, semantics

# Who answers questions about these definitions (a team address is best).
OWNER = "data-team@example.org"

# Rights to use the data: an SPDX license id (`LicenseRef-…` for your own terms), the most
# sensitive class of personal data it holds (none, pseudonymous, personal, sensitive) and the
# purposes it may be used for. Training sets and online reads check them.
INTERNAL = rights(
    license="LicenseRef-internal",
    pii="pseudonymous",
    purposes="training,serving,analytics",
    retention_days=365,
)

customer = Entity(
    name="customer",
    join_keys=["customer_id"],
    value_type=ValueType.STRING,
    owner=OWNER,
    description="A customer of the shop, by their customer number (e.g. C001).",
)

# The source file lives under the data dir (`data/` by default): `data_path` resolves it there
# whichever folder a command runs from. Timestamps are µs UTC: `event_timestamp` is the time a
# row describes (here: the end of its day), `created_timestamp` when it became known (published
# at 06:00 the next morning), so training sets never see a value before it was published.
customer_daily_source = FileSource(
    name="customer_daily_stats_source",
    path=data_path("sources/customer_daily_stats.parquet"),
    timestamp_field="event_timestamp",
    created_timestamp_column="created_timestamp",
    owner=OWNER,
    description="Daily per-customer order aggregates, published at 06:00 UTC the next day.",
    tags=INTERNAL,
)

customer_daily_stats = FeatureView(
    name="customer_daily_stats",
    entities=[customer],
    ttl=timedelta(days=2),  # older values count as missing
    schema=[
        Field(
            name="orders_7d",
            dtype=Int64,
            description="Orders the customer placed in the 7 days before the stamp.",
            tags=semantics(unit="count", min=0),  # what the values mean: unit and range
        ),
        Field(
            name="spend_7d",
            dtype=Float64,
            description="Amount the customer spent in those 7 days.",
            tags=semantics(unit="EUR", min=0),
        ),
    ],
    source=customer_daily_source,
    online=True,
    owner=OWNER,
    description="Yesterday's 7-day order activity of the customer, known from 06:00 UTC.",
    tags=INTERNAL,
)

return_model_v1 = FeatureService(
    name="return_model_v1",
    features=[customer_daily_stats],
    owner=OWNER,
    description="Features of the model that predicts whether an order will be returned.",
)
'''
