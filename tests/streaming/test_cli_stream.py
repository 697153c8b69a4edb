"""`featurestore stream` as an operator runs it: metrics on a port, SIGTERM commits and exits 0."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from typing import TYPE_CHECKING

import pytest

from featurestore.examples.flights.events import replay_flights
from featurestore.services import free_port

if TYPE_CHECKING:
    from conftest import StreamEnv

pytestmark = pytest.mark.e2e

EVENTS = 2_000


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
        lines = response.read().decode().splitlines()
    samples = {}
    for line in lines:
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def lags(samples: dict[str, float]) -> list[float]:
    return [value for name, value in samples.items() if name.startswith("featurestore_stream_lag{")]


def caught_up(samples: dict[str, float], consumed: str, events: int) -> bool:
    return samples.get(consumed) == events and bool(lags(samples)) and not any(lags(samples))


def test_stream_serves_metrics_and_exits_cleanly_on_sigterm(stream_env: StreamEnv) -> None:
    events = stream_env.whole_minutes(EVENTS)
    replay_flights(
        stream_env.flights_path, stream_env.bootstrap_servers, topic=stream_env.topic, limit=events
    )
    port = free_port()
    command = [sys.executable, "-m", "featurestore", "stream", "--topic", stream_env.topic]
    command += ["--log-dir", str(stream_env.log_dir), "--metrics-port", str(port)]
    command += ["--data-dir", str(stream_env.settings.data_dir)]
    environment = {
        **os.environ,
        "FEATURESTORE_REDIS_URL": stream_env.redis_url,
        "FEATURESTORE_KAFKA_BOOTSTRAP_SERVERS": stream_env.bootstrap_servers,
        "FEATURESTORE_REPO_PATH": str(stream_env.settings.repo_path),
    }
    process = subprocess.Popen(
        command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    topic = stream_env.topic
    consumed = f'featurestore_stream_events_consumed_total{{topic="{topic}"}}'
    samples: dict[str, float] = {}
    deadline = time.monotonic() + 90
    while not caught_up(samples, consumed, events) and time.monotonic() < deadline:
        time.sleep(0.5)
        try:
            samples = scrape(port)
        except OSError:
            continue

    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)

    assert process.returncode == 0, err.decode()
    assert f"Consumed {events:,} events: {events:,} written, 0 dead-lettered" in out.decode()
    assert samples[consumed] == events
    assert lags(samples) and all(lag == 0 for lag in lags(samples))
    assert samples['featurestore_stream_event_to_online_seconds_count{clock="append"}'] == events
    checkpoints = (stream_env.view_log_dir / "_checkpoints").glob("*.json")
    assert sum(json.loads(path.read_text())["next_offset"] for path in checkpoints) == events
