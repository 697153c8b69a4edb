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
    _train_and_serve(data_dir, flights_data_dir / "sources" / "flights.parquet", redis_url)
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


def _train_and_serve(data_dir: Path, flights: Path, redis_url: str) -> None:
    """A training set of two weeks of flights, and a sample of them served at their own times,
    so the card's Quality section has a reference and served values to compare."""
    import redis

    from featurestore.demo import FEATURE_SERVICE, LABEL, flights_spine_sql
    from featurestore.quality.serving import serving_log_dir
    from featurestore.quality.simulate import simulate_serving
    from featurestore.repo import open_store
    from featurestore.services import EmbeddedRedis
    from featurestore.settings import load_settings
    from featurestore.training import TrainingSetRequest, build_training_set

    store = open_store(load_settings(data_dir=data_dir, redis_url=redis_url), redis_url)
    spine = (
        f"{flights_spine_sql(flights)} AND scheduled_departure >= '2013-03-04' "
        "AND scheduled_departure < '2013-03-18'"
    )
    request = TrainingSetRequest(
        name="two_weeks", features=FEATURE_SERVICE, spine=spine, label=LABEL
    )
    build_training_set(store, request, data_dir / "training", data_dir=data_dir)
    with EmbeddedRedis() as online:
        client = redis.Redis.from_url(online.url)
        simulate_serving(
            store,
            client,
            FEATURE_SERVICE,
            f"{spine} AND flight_id % 30 = 0",
            log_dir=serving_log_dir(data_dir),
        )
        client.close()


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
            page.screenshot(path=str(ARTIFACTS / "catalog-feature-card.png"), full_page=True)
            # The README's picture: the card's Quality section, against served values.
            quality = page.locator("#quality")
            expect(quality).to_contain_text("two_weeks")
            expect(quality.locator("svg").first).to_be_visible()
            quality.screenshot(path=str(README_SCREENSHOT))
        finally:
            browser.close()

    assert (ARTIFACTS / "catalog-feature-card.png").stat().st_size > 10_000
    assert README_SCREENSHOT.stat().st_size > 10_000
