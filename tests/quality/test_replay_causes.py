"""The likely cause a row-level replay gives a mismatch, and the durations the commands take."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import typer

from featurestore.cli_serving import parse_duration
from featurestore.quality.replay import likely_cause

T = datetime(2013, 3, 4, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("served_at", "offline_at", "cause"),
    [
        (T, T, "same_event_time"),
        (T - timedelta(hours=1), T, "online_older"),  # a materialization gap
        (None, T, "online_older"),  # not served yet, or expired online
        (T + timedelta(minutes=5), T, "online_newer"),  # a stream ahead of the offline log
        (T, None, "online_newer"),  # the offline store knew nothing yet
    ],
)
def test_likely_cause_follows_the_event_times(
    served_at: datetime | None, offline_at: datetime | None, cause: str
) -> None:
    assert likely_cause(served_at, offline_at) == cause


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("1h", timedelta(hours=1)),
        ("1.5d", timedelta(days=1.5)),
        ("2w", timedelta(weeks=2)),
    ],
)
def test_durations_read_as_written(text: str, expected: timedelta) -> None:
    assert parse_duration(text, "--step") == expected


@pytest.mark.parametrize("text", ["0h", "1", "h", "-1h", "5 minutes"])
def test_a_bad_duration_names_the_value_and_an_example(text: str) -> None:
    with pytest.raises(typer.BadParameter, match=f"`{text}` is not a positive duration"):
        parse_duration(text, "--step")
