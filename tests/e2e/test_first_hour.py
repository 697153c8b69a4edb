"""A new team's first hour on a repo of its own, through the CLI as they would run it.

`init` → add a view → `apply` → `training-set` → `materialize` into a real Redis → `serve` →
an online read → the catalog page of the new feature. Every command runs in the team's folder,
says which repo it used, and none touches the bundled flights example.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featurestore import FeatureStore
from featurestore.services import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NEW_VIEW = """

customer_profile_source = FileSource(
    name="customer_profile_source",
    path=data_path("sources/customer_profile.parquet"),
    timestamp_field="event_timestamp",
    created_timestamp_column="created_timestamp",
    owner=OWNER,
    description="Customer profile snapshots from the shop's CRM export.",
    tags=INTERNAL,
)

customer_profile = FeatureView(
    name="customer_profile",
    entities=[customer],
    ttl=timedelta(0),
    schema=[
        Field(
            name="tenure_days",
            dtype=Int64,
            description="Days since the customer's first order.",
            tags=semantics(unit="day", min=0),
        ),
    ],
    source=customer_profile_source,
    online=True,
    owner=OWNER,
    description="What the CRM knows about the customer.",
    tags=INTERNAL,
)
"""


def write_profiles(path: Path) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    stamps = [start + timedelta(days=day) for day in (0, 5)]
    rows = [
        (customer, stamp, 30 * n + day)
        for n, customer in enumerate(("C001", "C002"))
        for day, stamp in enumerate(stamps)
    ]
    table = pa.table(
        {
            "customer_id": [r[0] for r in rows],
            "event_timestamp": pa.array([r[1] for r in rows], pa.timestamp("us", tz="UTC")),
            "created_timestamp": pa.array([r[1] for r in rows], pa.timestamp("us", tz="UTC")),
            "tenure_days": pa.array([r[2] for r in rows], pa.int64()),
        }
    )
    pq.write_table(table, path)


class Team:
    """Runs `featurestore` in the team's folder with only the environment it chose."""

    def __init__(self, folder: Path, redis_url: str) -> None:
        self.folder = folder
        self.redis_url = redis_url
        self.outputs: list[str] = []

    def env(self, *, with_redis: bool = True) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FEATURESTORE_")}
        env["COLUMNS"] = "250"
        if with_redis:
            env["FEATURESTORE_REDIS_URL"] = self.redis_url
        return env

    def run(self, *args: str, with_redis: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "featurestore", *args],
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=300,
            env=self.env(with_redis=with_redis),
        )
        self.outputs.append(result.stdout + result.stderr)
        return result


@pytest.fixture
def team(tmp_path: Path, redis_url: str) -> Team:
    return Team(tmp_path, redis_url)


@pytest.fixture
def server(team: Team) -> Iterator[str]:
    """`featurestore serve` in the team's folder, until the test ends."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "featurestore", "serve", "--port", str(port)],
        cwd=team.folder,
        env=team.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise AssertionError(f"serve exited: {process.communicate()}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("serve did not answer /health within 120 s")
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        out, err = process.communicate(timeout=30)
        team.outputs.append(out + err)


def test_a_new_team_goes_from_init_to_online_reads_and_the_catalog(
    team: Team, request: pytest.FixtureRequest
) -> None:
    created = team.run("init", "shop")
    assert created.returncode == 0, created.stderr
    shop = team.folder / "shop"
    repo = (shop / "feature_repo").resolve()
    assert created.stdout.splitlines()[0] == f"Repo: {repo} · Data: {(shop / 'data').resolve()}"
    team.folder = shop

    # Add a view of one's own, with its source file under the data dir.
    features = repo / "features.py"
    features.write_text(features.read_text() + NEW_VIEW)
    write_profiles(shop / "data" / "sources" / "customer_profile.parquet")

    applied = team.run("apply")
    assert applied.returncode == 0, applied.stderr
    assert "Applied project shop" in applied.stdout
    assert "2 feature view(s)" in applied.stdout

    built = team.run(
        "training-set", "first",
        "--features", "customer_daily_stats:orders_7d",
        "--features", "customer_profile:tenure_days",
        "--spine", "data/spines/orders.parquet",
        "--label", "returned",
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert "Achieved split of the spine: train 70.0%, validation 15.0%, test 15.0%." in (
        built.stdout
    )
    train = pq.read_table(shop / "data" / "training" / "first" / "train.parquet")
    assert {"orders_7d", "tenure_days"} <= set(train.column_names)

    # Without a Redis that outlives the command, nothing is written and nothing recorded.
    refused = team.run("materialize", "--start", "2023-12-01", with_redis=False)
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        "Error: No Redis configured: set FEATURESTORE_REDIS_URL, or run `featurestore demo` "
        "(values written into a Redis that stops with the command would be lost, and the "
        "recorded interval would make later `--incremental` runs skip them)."
    ]
    with FeatureStore(repo=repo, data_dir=shop / "data") as fs:
        assert fs.feast.get_feature_view("customer_profile").materialization_intervals == []

    written = team.run("materialize", "--start", "2023-12-01")
    assert written.returncode == 0, written.stderr
    assert "customer_profile" in written.stdout

    url = request.getfixturevalue("server")
    online = httpx.post(
        f"{url}/online/features",
        json={"features": ["customer_profile:tenure_days"], "entities": {"customer_id": ["C002"]}},
        timeout=30,
    )
    assert online.status_code == 200, online.text
    assert online.json()["results"][1]["values"] == [31]
    page = httpx.get(f"{url}/features/customer_profile/tenure_days", timeout=30)
    assert page.status_code == 200
    assert "Days since the customer&#39;s first order." in page.text or (
        "Days since the customer's first order." in page.text
    )

    for output in team.outputs[1:]:
        assert output.startswith(f"Repo: {repo} · Data: {(shop / 'data').resolve()}"), output
    assert all("flights" not in output for output in team.outputs)
