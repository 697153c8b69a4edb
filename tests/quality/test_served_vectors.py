"""Serving at a simulated clock, then checking what was served: row by row through the
point-in-time join, and as distributions against a training set of the same two weeks of
flights (real Redis): a clean run, an hourly materialization, and a weather source whose
`temp` was swapped to °C while serving."""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import duckdb
import pyarrow.parquet as pq
import pytest
from feast import FeatureStore
from typer.testing import CliRunner

from featurestore.apply import apply_repo
from featurestore.cli import app
from featurestore.examples.flights.demo import FEATURE_SERVICE, LABEL, flights_spine_sql
from featurestore.offline.retrieval import historical_features
from featurestore.online.connection import connect
from featurestore.quality.monitor import QualityMonitor
from featurestore.quality.replay import ReplayReport, replay_serving_log
from featurestore.quality.serving import serving_log_dir
from featurestore.quality.simulate import SimulationResult, simulate_serving
from featurestore.quality.skew import training_set_skew
from featurestore.repo import open_store
from featurestore.services import free_port
from featurestore.settings import Settings, load_settings
from featurestore.sql import quote_literal
from featurestore.training import TrainingSetRequest, build_training_set

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

BATCH_VIEWS = ("weather_hourly", "plane_attributes", "carrier_daily_stats", "route_attributes")
STREAM_VIEW = "origin_departures_60m"
_databases = iter(range(3, 8))
TRAINING_SET = "two_weeks"
EVERY = 30
"""One flight in 30 of the two weeks is served: ~400 requests."""


@dataclass
class Served:
    settings: Settings
    store: FeatureStore
    redis_url: str

    @property
    def weather(self) -> Path:
        return self.settings.data_dir / "sources" / "weather.parquet"

    def spine(self, every: int) -> str:
        """Two weeks of flights, one in `every` (by flight id), at their scheduled departure."""
        flights = self.settings.data_dir / "sources" / "flights.parquet"
        return (
            f"{flights_spine_sql(flights)} AND scheduled_departure >= '2013-03-04' "
            f"AND scheduled_departure < '2013-03-18' AND flight_id % {every} = 0"
        )

    def simulate(self, log: str, every: int, step: timedelta | None = None) -> SimulationResult:
        url = urlunparse(urlparse(self.redis_url)._replace(path=f"/{next(_databases)}"))
        client = connect(url)
        client.flushdb()
        try:
            return simulate_serving(
                self.store,
                client,
                FEATURE_SERVICE,
                self.spine(every),
                log_dir=self.settings.data_dir / log,
                step=step,
            )
        finally:
            client.flushdb()
            client.close()

    def replay(self, log: str) -> ReplayReport:
        return replay_serving_log(self.store, self.settings.data_dir / log)

    def breached(self) -> set[str]:
        """Features whose distribution skew against the training set breaches a threshold."""
        report = training_set_skew(self.store, self.settings.data_dir, TRAINING_SET)
        assert report.served_rows > 0
        return {figure.feature for figure in report.breached}

    def forget_served(self) -> None:
        shutil.rmtree(serving_log_dir(self.settings.data_dir), ignore_errors=True)


@pytest.fixture(scope="module")
def served(
    flights_data_dir: Path, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """The ingested flights copied into a data dir of its own (its weather file gets swapped)."""
    data_dir = tmp_path_factory.mktemp("served")
    shutil.copytree(flights_data_dir / "sources", data_dir / "sources")
    settings = load_settings(data_dir=data_dir, redis_url=redis_url)
    apply_repo(settings, redis_url)
    served = Served(settings, open_store(settings, redis_url), redis_url)
    # The reference: every flight of the same two weeks, before anything is served.
    build_training_set(
        served.store,
        TrainingSetRequest(
            name=TRAINING_SET, features=FEATURE_SERVICE, spine=served.spine(1), label=LABEL
        ),
        data_dir / "training",
        data_dir=data_dir,
    )
    yield served


def _features(report: ReplayReport) -> dict[str, tuple[int, int, dict[str, int]]]:
    return {f.feature: (f.compared, f.mismatches, f.causes) for f in report.features}


def test_clean_run_serves_the_point_in_time_values_and_replays_without_mismatch(
    served: Served,
) -> None:
    served.forget_served()
    result = served.simulate("serving_log", every=EVERY)
    log = pq.read_table(served.settings.data_dir / "serving_log").to_pandas()
    expected = historical_features(
        served.store,
        f"({served.spine(EVERY)})",
        served.store.get_feature_service(FEATURE_SERVICE),
    ).table.to_pandas()

    # Every request was logged at its own (2013) time, and the served values are the
    # point-in-time ones: checked here against the join directly, on a batch and a stream view.
    assert result.requests == len(log) == len(expected) > 150
    assert result.statuses["PRESENT"] > 0.9 * sum(result.statuses.values())
    log = log.sort_values(["request_time", "entity_key"]).reset_index(drop=True)
    logged_keys = log["entity_key"].map(json.loads)
    expected["entity_key"] = [
        {k: row[k] for k in ("carrier", "origin", "route", "tailnum")}
        for row in expected.to_dict("records")
    ]
    expected = expected.sort_values(["event_timestamp", "flight_id"])
    assert sorted(log["request_time"]) == sorted(expected["event_timestamp"])
    by_request = {
        (str(t), json.dumps(k, sort_keys=True)): (temp, departures)
        for t, k, temp, departures in zip(
            log["request_time"],
            logged_keys,
            log["temp"].where(log["temp__status"] == "PRESENT"),
            log["departures_60m"].where(log["departures_60m__status"] == "PRESENT"),
            strict=True,
        )
    }
    for row in expected.to_dict("records"):
        temp, departures = by_request[
            (str(row["event_timestamp"]), json.dumps(row["entity_key"], sort_keys=True))
        ]
        wanted = (row["temp"], row["departures_60m"])
        assert (temp, departures) == pytest.approx(wanted, nan_ok=True)

    report = served.replay("serving_log")
    assert report.replayed_rows == result.requests
    features = _features(report)
    assert len(features) == 15
    assert all(compared == result.requests for compared, _, _ in features.values())
    assert {ref: mismatches for ref, (_, mismatches, _) in features.items()} == dict.fromkeys(
        features, 0
    )
    # Served over the same two weeks, no feature drifts away from the training set.
    assert served.breached() == set()
    served.forget_served()


def test_hourly_materialization_shows_as_online_older_than_offline(served: Served) -> None:
    served.simulate("log-hourly", every=120, step=timedelta(hours=1))

    report = served.replay("log-hourly")

    features = _features(report)
    # Hourly weather published 10 minutes past the hour waits up to an hour for the next run.
    _, mismatches, causes = features["weather_hourly:temp"]
    assert mismatches > 0 and causes == {"online_older": mismatches}
    for feature in report.mismatched:
        assert set(feature.causes) == {"online_older"}
        for example in feature.examples:
            served_at = example.served_event_timestamp
            assert example.offline_event_timestamp is not None
            assert served_at is None or served_at < example.offline_event_timestamp
    for ref in ("route_attributes:distance", "plane_attributes:seats"):
        assert features[ref][1] == 0  # static rows, known long before


def test_temp_swapped_to_celsius_is_localized_to_that_feature_at_the_same_event_time(
    served: Served,
) -> None:
    served.forget_served()
    original = served.weather.with_name("weather.original.parquet")
    shutil.copy2(served.weather, original)
    con = duckdb.connect()
    try:
        con.execute(
            f"COPY (SELECT * REPLACE ((temp - 32) * 5 / 9 AS temp) "
            f"FROM read_parquet({quote_literal(str(original))})) "
            f"TO {quote_literal(str(served.weather))} (FORMAT parquet)"
        )
        result = served.simulate("serving_log", every=EVERY)
    finally:
        con.close()
        shutil.copy2(original, served.weather)

    report = served.replay("serving_log")

    features = _features(report)
    compared, mismatches, causes = features.pop("weather_hourly:temp")
    present = next(f for f in report.features if f.feature == "weather_hourly:temp")
    assert compared == result.requests
    assert mismatches > 0.8 * compared  # every temp served, bar rows without weather
    assert causes == {"same_event_time": mismatches}
    for example in present.examples:
        assert example.served_event_timestamp == example.offline_event_timestamp
        assert example.served_value == pytest.approx((example.offline_value - 32) * 5 / 9)
    assert {ref: m for ref, (_, m, _) in features.items()} == dict.fromkeys(features, 0)
    # The distribution check flags the same feature, and no other.
    assert served.breached() == {"weather_hourly:temp"}

    # The command prints the same report, in the JSON shape other tools read.
    cli = CliRunner().invoke(
        app,
        ["skew", "--replay", "--format", "json", "--data-dir", str(served.settings.data_dir)],
        env={"FEATURESTORE_REDIS_URL": served.redis_url},
    )
    assert cli.exit_code == 0, cli.output
    printed = json.loads(cli.stdout)
    assert printed == json.loads(json.dumps(report.to_json(), default=str))
    assert set(printed) == {"replayed_rows", "features"}
    assert {"feature", "compared", "mismatches", "examples"} <= set(printed["features"][0])

    # The monitor exports the same mismatch rate as the gauge the dashboard plots.
    monitor = QualityMonitor(
        served.store, serving_log_dir(served.settings.data_dir), training_sets=(TRAINING_SET,)
    )
    port = free_port()
    monitor.refresh()
    monitor.serve(port)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        scraped = response.read().decode()
    gauges = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in scraped.splitlines()
        if line.startswith("featurestore_feature_skew{")
    }
    assert gauges == {
        f'featurestore_feature_skew{{feature="{f.feature}",metric="replay_mismatch_rate"}}': (
            pytest.approx(f.mismatch_rate)
        )
        for f in report.features
    } | {
        f'featurestore_feature_skew{{feature="{f.feature}",metric="{f.metric}"}}': pytest.approx(
            f.value
        )
        for f in training_set_skew(served.store, served.settings.data_dir, TRAINING_SET).features
        if f.value is not None
    }
    assert "featurestore_validation_failures{" in scraped
