"""Adding a streaming feature is an edit of `feature_repo/` only: on a copy of the flights repo, a
per-carrier view (keyed by another entity than the origin-keyed topic) is declared, applied and
streamed with the CLI, and its online values equal a brute-force computation."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import redis

from featurestore.examples.flights.events import departure_events, replay_flights
from featurestore.online.client import OnlineClient
from featurestore.repo import open_store
from featurestore.settings import load_settings

if TYPE_CHECKING:
    from conftest import StreamEnv

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EVENTS = 1_000
CARRIER_VIEW = """

carrier_departures_30m = StreamFeatureView(
    name="carrier_departures_30m",
    entities=[carrier],
    ttl=timedelta(hours=1),
    schema=[
        Field(name="departures_30m", dtype=Int64, description="Departures in 30 minutes.",
              tags=semantics(unit="count", min=0)),
        Field(name="mean_dep_delay_30m", dtype=Float64, description="Their mean delay.",
              tags=semantics(unit="min")),
        Field(name="max_dep_delay_30m", dtype=Int64, description="Their longest delay.",
              tags=semantics(unit="min")),
    ],
    source=departures_stream,
    aggregations=[
        Aggregation(column="flight_id", function="count", time_window=timedelta(minutes=30),
                    name="departures_30m"),
        Aggregation(column="dep_delay", function="mean", time_window=timedelta(minutes=30),
                    name="mean_dep_delay_30m"),
        Aggregation(column="dep_delay", function="max", time_window=timedelta(minutes=30),
                    name="max_dep_delay_30m"),
    ],
    timestamp_field="event_timestamp",
    online=True,
    owner=OWNER,
    description="Departures of the carrier over a sliding 30 minutes.",
    tags=OPEN_DATA,
)
"""
FEATURES = ("departures_30m", "mean_dep_delay_30m", "max_dep_delay_30m")


def test_a_view_added_in_the_repo_is_applied_streamed_and_served(
    stream_env: StreamEnv, tmp_path: Path
) -> None:
    repo = tmp_path / "feature_repo"
    shutil.copytree(stream_env.settings.repo_path, repo)
    with (repo / "flights_features.py").open("a") as definitions:
        definitions.write(CARRIER_VIEW)
    data_dir = tmp_path / "data"
    environment = {
        **os.environ,
        "FEATURESTORE_REDIS_URL": stream_env.redis_url,
        "FEATURESTORE_KAFKA_BOOTSTRAP_SERVERS": stream_env.bootstrap_servers,
    }
    cli = [sys.executable, "-m", "featurestore"]
    where = ["--repo", str(repo), "--data-dir", str(data_dir)]
    events = stream_env.whole_minutes(EVENTS)
    replay_flights(
        stream_env.flights_path, stream_env.bootstrap_servers, topic=stream_env.topic, limit=events
    )

    subprocess.run([*cli, "apply", *where], env=environment, check=True, timeout=300)
    views = ["--view", "carrier_departures_30m", "--view", "origin_departures_60m"]
    subprocess.run(
        [*cli, "stream", *where, "--topic", stream_env.topic, "--until-caught-up", *views],
        env=environment,
        check=True,
        timeout=300,
    )

    departures = departure_events(stream_env.flights_path, limit=events)
    carriers = sorted({str(e["carrier"]) for e in departures})
    latest = {
        c: max(e["event_timestamp"] for e in departures if e["carrier"] == c) for c in carriers
    }
    settings = load_settings(data_dir=data_dir, repo_path=repo)
    client = redis.Redis.from_url(stream_env.redis_url)
    try:
        online = OnlineClient(open_store(settings, stream_env.redis_url), client).get(
            [f"carrier_departures_30m:{name}" for name in FEATURES],
            [{"carrier": c} for c in carriers],
            now=max(latest.values()),
        )
    finally:
        client.close()
    for row, carrier in enumerate(carriers):
        inside = [
            int(e["dep_delay"])  # type: ignore[call-overload]
            for e in departures
            if e["carrier"] == carrier
            and latest[carrier] - timedelta(minutes=30) < e["event_timestamp"] <= latest[carrier]  # type: ignore[operator]
        ]
        expected = (len(inside), sum(inside) / len(inside), max(inside))
        assert tuple(online.values[name][row] for name in FEATURES) == expected, carrier
        assert online.event_timestamps[FEATURES[0]][row] == latest[carrier]
