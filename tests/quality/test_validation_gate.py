"""A view whose source fails validation is refused by materialize and training sets, unless
the caller allows invalid data; `featurestore validate` reports it and exits 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from featurestore import FeatureStore
from featurestore.apply import apply_repo
from featurestore.offline.arrow_io import write_parquet
from featurestore.quality.validate import ValidationFailedError
from featurestore.scaffold import FEATURE_SERVICE, LABEL, SOURCE_FILE, SPINE_FILE, init_repo
from featurestore.settings import load_settings

pytestmark = pytest.mark.integration

REFUSAL = (
    "Feature view `customer_daily_stats` fails validation: below_min: 1 row(s) of `orders_7d` "
    "(< 0). Fix the source, or tag the view `featurestore.on_violation: warn`, or pass "
    "`--allow-invalid` (`featurestore validate` shows every rule)."
)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Path:
    """The scaffolded repo, applied, whose source then gets one negative order count."""
    root = tmp_path_factory.mktemp("shop")
    done = init_repo(root)
    apply_repo(load_settings(repo_path=done.repo_path, data_dir=done.data_dir), redis_url)
    source = done.data_dir / SOURCE_FILE
    table = pq.read_table(source)
    orders = table.column("orders_7d").to_pylist()
    orders[0] = -3
    table = table.set_column(table.schema.get_field_index("orders_7d"), "orders_7d", [orders])
    write_parquet(table, source)
    return root


def _store(shop: Path, redis_url: str) -> FeatureStore:
    return FeatureStore(shop / "feature_repo", data_dir=shop / "data", redis_url=redis_url)


def test_training_set_refuses_the_invalid_view_unless_allowed(shop: Path, redis_url: str) -> None:
    spine = shop / "data" / SPINE_FILE
    with _store(shop, redis_url) as store:
        with pytest.raises(ValidationFailedError) as refused:
            store.training_set("refused", FEATURE_SERVICE, spine, LABEL)
        result = store.training_set("allowed", FEATURE_SERVICE, spine, LABEL, allow_invalid=True)

    assert str(refused.value) == REFUSAL
    assert not (shop / "data" / "training" / "refused").exists()
    assert sum(result.rows.values()) > 0
    assert any("below_min: 1 row(s) of `orders_7d`" in warning for warning in result.warnings)


def test_materialize_refuses_the_invalid_view_unless_allowed(shop: Path, redis_url: str) -> None:
    start, end = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC)
    with _store(shop, redis_url) as store:
        with pytest.raises(ValidationFailedError, match="below_min: 1 row"):
            store.materialize(start, end)
        done = store.materialize(start, end, allow_invalid=True)

    assert [(view.view, view.rows) for view in done] == [("customer_daily_stats", 3)]


def _cli(shop: Path, redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEATURESTORE_")}
    return subprocess.run(
        [sys.executable, "-m", "featurestore", "--quiet", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=shop,
        env={**env, "COLUMNS": "300", "FEATURESTORE_REDIS_URL": redis_url},
    )


@pytest.mark.e2e
def test_cli_validate_exits_1_and_training_set_fails_with_one_line(
    shop: Path, redis_url: str
) -> None:
    validated = _cli(shop, redis_url, "validate", "--format", "json")
    refused = _cli(
        shop,
        redis_url,
        "training-set",
        "cli_refused",
        "--features",
        FEATURE_SERVICE,
        "--spine",
        f"data/{SPINE_FILE}",
        "--label",
        LABEL,
    )

    assert validated.returncode == 1, validated.stderr
    (view,) = json.loads(validated.stdout)["views"]
    failed = [(r["rule"], r["feature"], r["count"]) for r in view["results"] if r["failed"]]
    assert (view["view"], view["passed"], failed) == (
        "customer_daily_stats",
        False,
        [("below_min", "orders_7d", 1)],
    )
    assert refused.returncode == 1
    # The progress bar's last frame may precede it on stderr.
    errors = [line for line in refused.stderr.splitlines() if "Error" in line]
    assert errors == [f"Error: {REFUSAL}"]
