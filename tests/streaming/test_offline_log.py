"""The offline log's commit protocol on its own: a checkpoint commits files, orphans go."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from featurestore.aggregations import Aggregation, Row, WindowSpec
from streaming.offline_log import Checkpoint, OfflineLog

DAY_US = 86_400_000_000
HOUR = timedelta(hours=1)
ORIGIN_DEPARTURES_60M = WindowSpec(
    view="origin_departures_60m",
    key="origin",
    allowed_lateness=timedelta(minutes=10),
    aggregations=(
        Aggregation("departures_60m", "count", "flight_id", HOUR),
        Aggregation("mean_dep_delay_60m", "mean", "dep_delay", HOUR),
    ),
)


def test_rows_are_split_by_event_date_and_read_back_sorted(tmp_path: Path) -> None:
    log = OfflineLog(tmp_path, ORIGIN_DEPARTURES_60M)
    rows = [
        Row("JFK", DAY_US + 5, (2, 1.5)),
        Row("EWR", 5, (0, None)),
        Row("EWR", DAY_US, (1, 3.0)),
    ]

    log.append("t", 0, 10, 19, rows)
    log.commit("t", 0, Checkpoint(20, {}))

    assert [path.parent.name for path in log.files()] == ["date=1970-01-01", "date=1970-01-02"]
    table = log.read()
    assert table.column("origin").to_pylist() == ["EWR", "EWR", "JFK"]
    assert table.column("departures_60m").to_pylist() == [0, 1, 2]
    assert table.column("mean_dep_delay_60m").to_pylist() == [None, 3.0, 1.5]
    assert table.column("event_timestamp").equals(table.column("created_timestamp"))


def test_recovery_keeps_committed_files_and_removes_those_written_after_the_checkpoint(
    tmp_path: Path,
) -> None:
    log = OfflineLog(tmp_path, ORIGIN_DEPARTURES_60M)
    log.append("t", 0, 0, 9, [Row("JFK", 1, (1, 1.0))])
    log.commit("t", 0, Checkpoint(10, {"JFK": {"events": [], "watermark": 1, "final": None}}))
    log.append("t", 0, 10, 19, [Row("JFK", 2, (2, 1.0))])  # crashed before its checkpoint
    log.append("t", 1, 0, 4, [Row("EWR", 3, (1, 1.0))])  # another partition, never committed

    checkpoint = log.recover("t", 0)

    assert checkpoint == Checkpoint(10, {"JFK": {"events": [], "watermark": 1, "final": None}})
    assert [path.name for path in log.files()] == [
        f"t-0-{0:020d}-{9:020d}.parquet",
        f"t-1-{0:020d}-{4:020d}.parquet",
    ]
    assert log.recover("t", 1) is None
    assert [path.name for path in log.files()] == [f"t-0-{0:020d}-{9:020d}.parquet"]
