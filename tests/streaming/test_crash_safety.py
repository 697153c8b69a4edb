"""SIGKILL the consumer at random moments of a replay and restart it: the final online values
and offline log equal an uninterrupted run's — nothing lost, nothing counted twice."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import random
import signal
import time
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from featurestore.examples.flights.events import replay_flights

if TYPE_CHECKING:
    from conftest import StreamEnv

pytestmark = pytest.mark.integration


def committed_offsets(log_dir: Path) -> int:
    """Events the checkpoints have committed so far, over all partitions."""
    total = 0
    for path in (log_dir / "_checkpoints").glob("*.json"):
        with contextlib.suppress(OSError, ValueError):  # replaced while being read
            total += json.loads(path.read_text())["next_offset"]
    return total


def _consume_in_child(stream_env: StreamEnv, group: str) -> None:
    # Small batches and frequent checkpoints: many moments to be killed at.
    stream_env.consume(group_id=group, checkpoint_seconds=0.1, max_poll_records=400)


def start_consumer(stream_env: StreamEnv, group: str) -> BaseProcess:
    """The consumer in a forked process: a real process to SIGKILL, without re-importing Feast."""
    process = multiprocessing.get_context("fork").Process(
        target=_consume_in_child, args=(stream_env, group), daemon=True
    )
    process.start()
    return process


def kill_after(process: BaseProcess, log_dir: Path, progress: int, rng: random.Random) -> bool:
    """SIGKILL a moment after `progress` events are committed; False if it finished first."""
    deadline = time.monotonic() + 90
    while committed_offsets(log_dir) < progress:
        if not process.is_alive() or time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    time.sleep(rng.uniform(0.0, 0.05))  # somewhere inside the next batch's work
    if not process.is_alive():
        return False
    assert process.pid is not None
    os.kill(process.pid, signal.SIGKILL)
    process.join()
    return True


def run_with_kills(stream_env: StreamEnv, events: int, kills: int, seed: int) -> int:
    """Kill at increasing random points of the replay, restart each time, then run to the end."""
    rng = random.Random(seed)
    points = sorted(rng.sample(range(events // 10, events * 8 // 10), kills))
    group = f"{stream_env.topic}.chaos"
    killed = 0
    for point in points:
        process = start_consumer(stream_env, group)
        if not kill_after(process, stream_env.view_log_dir, point, rng):
            break
        killed += 1
    else:
        process = start_consumer(stream_env, group)
    process.join(timeout=180)
    assert process.exitcode == 0
    return killed


def chaos(stream_env: StreamEnv, events: int, kills: int, seed: int) -> None:
    events = stream_env.whole_minutes(events)
    replay_flights(
        stream_env.flights_path, stream_env.bootstrap_servers, topic=stream_env.topic, limit=events
    )
    stream_env.consume()
    reference_online, reference_log = stream_env.online_rows(), stream_env.log.read()

    chaos_env = stream_env.sibling()
    killed = run_with_kills(chaos_env, events, kills, seed)

    assert killed == kills
    assert chaos_env.online_rows() == reference_online
    assert chaos_env.log.read().equals(reference_log)
    assert reference_log.num_rows > events


def test_killed_consumer_resumes_without_loss_or_double_counting(stream_env) -> None:
    chaos(stream_env, events=8_000, kills=1, seed=5)


@pytest.mark.slow
def test_repeatedly_killed_consumer_matches_an_uninterrupted_run_over_50k_events(
    stream_env,
) -> None:
    chaos(stream_env, events=50_000, kills=3, seed=13)
