"""A person's path through the catalog in headless Chromium, against `featurestore serve`.

Home → search "temperature" → the feature card, which shows lineage and coverage. The
screenshot of the card is kept under `test-artifacts/`; the one of its Quality section is the
README's picture, `docs/quality-section.png`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from featurestore.services.process import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
README_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "quality-section.png"
TOKEN = "e2e-reader-token"


@pytest.fixture(scope="module")
def server(
    flights_data_dir: Path, tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> Iterator[str]:
    """`featurestore serve` on a free port over a copy of the applied flights registry."""
    data_dir = tmp_path_factory.mktemp("browser")
    shutil.copy(flights_data_dir / "registry.db", data_dir / "registry.db")
    _training_set_and_serving_log(data_dir)
    port = free_port()
    env = {
        **os.environ,
        "FEATURESTORE_REDIS_URL": redis_url,
        "FEATURESTORE_API_TOKENS": json.dumps({TOKEN: "reader"}),
    }
    command = [sys.executable, "-m", "featurestore", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--data-dir", str(data_dir)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _training_set_and_serving_log(data_dir: Path) -> None:
    """A small training set holding `weather_hourly:temp` (°F), and a serving log of the same
    feature served in °C: the Quality section then has both histograms to draw."""
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    from featurestore.metadata import FieldSemantics
    from featurestore.quality.stats import FeatureColumn, reference_statistics

    folder = data_dir / "training" / "quality_demo"
    folder.mkdir(parents=True)
    paths = {}
    for split, rows in (("train", 700), ("validation", 150), ("test", 150)):
        paths[split] = folder / f"{split}.parquet"
        pq.write_table(pa.table({"temp": [30.0 + (i % 40) for i in range(rows)]}), paths[split])
    temp = FeatureColumn("weather_hourly:temp", "temp", "Float64", FieldSemantics(min=-40, max=120))
    with duckdb.connect() as con:
        statistics = reference_statistics(con, paths, [temp])
    manifest = {
        "name": "quality_demo",
        "feature_service": "delay_model_v1",
        "features": ["weather_hourly:temp"],
        "purpose": "training",
        "split": {"files": {split: {"file": path.name} for split, path in paths.items()}},
        "statistics": statistics,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    log = data_dir / "serving_log" / "date=2013-03-01"
    log.mkdir(parents=True)
    served = [round((30.0 + (i % 40) - 32) * 5 / 9, 1) for i in range(300)]
    pq.write_table(
        pa.table(
            {
                "request_time": pa.array(
                    [datetime(2013, 3, 1, tzinfo=UTC)] * 300, pa.timestamp("us", tz="UTC")
                ),
                "feature_service": ["delay_model_v1"] * 300,
                "entity_key": ['{"origin": "EWR"}'] * 300,
                "temp": served,
                "temp__status": ["PRESENT"] * 300,
            }
        ),
        log / "part-0.parquet",
    )


def _wait_until_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            pytest.fail(f"`featurestore serve` exited with {process.returncode}:\n{output}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    pytest.fail(f"`featurestore serve` did not answer on {url} within {timeout} s")


def test_search_then_feature_card_with_lineage_and_coverage(server: str) -> None:
    if not CHROMIUM.is_file():
        pytest.skip("Debian's chromium is not installed; `bash .ci/run` installs it")
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{server}/")
            expect(page.locator("h1")).to_have_text("API token needed")
            page.fill("#token", TOKEN)
            page.click("#token-form button")
            expect(page.locator("h1")).to_contain_text("What data exists")

            page.fill(".big-search input[name=q]", "temperature")
            page.press(".big-search input[name=q]", "Enter")
            expect(page.locator("h1")).to_contain_text("temperature")
            page.click("text=weather_hourly:temp")

            expect(page.locator("h1")).to_have_text("weather_hourly:temp")
            lineage = page.locator("#lineage svg.lineage")
            expect(lineage).to_be_visible()
            expect(lineage).to_contain_text("weather_hourly_source")
            expect(lineage).to_contain_text("delay_model_v1")
            coverage = page.locator("#coverage")
            expect(coverage).to_contain_text("26,114")
            expect(coverage).to_contain_text("entities with a value")
            expect(coverage.locator("svg.histogram rect")).to_have_count(20)
            expect(page.locator("#rights")).to_contain_text("CC0-1.0")
            quality = page.locator("#quality")
            expect(quality).to_contain_text("passes")
            expect(quality).to_contain_text("quality_demo")
            expect(quality.locator("svg.quality-histogram rect.reference")).to_have_count(10)
            expect(quality.locator("svg.quality-histogram rect.served")).to_have_count(10)
            expect(quality.locator("svg.quality-sparkline polyline")).not_to_have_count(0)
            expect(quality.locator("tr.warn")).to_contain_text(["psi", "ks", "js"])
            quality.scroll_into_view_if_needed()
            quality.screenshot(path=str(ARTIFACTS / "catalog-feature-quality.png"))
            quality.screenshot(path=str(README_SCREENSHOT))  # the README's picture
            page.screenshot(path=str(ARTIFACTS / "catalog-feature-card.png"), full_page=True)
        finally:
            browser.close()

    assert (ARTIFACTS / "catalog-feature-card.png").stat().st_size > 10_000
    assert README_SCREENSHOT.stat().st_size > 10_000
