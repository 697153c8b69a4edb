"""`featurestore ingest FILE --source NAME`: typed, checked, rejects kept with their reason."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from featurestore.cli import app
from featurestore.errors import SourceDataError
from featurestore.ingest.files import ingest_source_files
from featurestore.settings import load_settings

pytestmark = pytest.mark.integration

DEFINITIONS = """
from datetime import timedelta

from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.types import Float64, Int64, String

from featurestore.definitions import data_path, semantics

card = Entity(name="card", join_keys=["card_id"], value_type=ValueType.INT64)
payments = FileSource(
    name="payments",
    path=data_path("sources/payments.parquet"),
    timestamp_field="paid_at",
    created_timestamp_column="loaded_at",
)
card_payments = FeatureView(
    name="card_payments",
    entities=[card],
    ttl=timedelta(days=1),
    schema=[
        Field(name="amount", dtype=Float64, tags=semantics(min=0, max=10000, nullable=False)),
        Field(name="currency", dtype=String, tags=semantics(allowed="EUR,USD")),
        Field(name="items", dtype=Int64),
    ],
    source=payments,
)
"""

HEADER = "card_id,paid_at,amount,currency,items"
GOOD = [
    "1,2026-03-01 10:00:00,12.5,EUR,1",
    "2,2026-03-01T11:00:00Z,0,USD,",
    "1,2026-03-01 12:00:00+01:00,99.9,,3",
]
BAD = {
    "3,2026-03-01 10:00:00,12.5,EUR,two": "`items` is not of type BIGINT",
    "4,2026-03-01 10:00:00,-1,EUR,1": "`amount` is below its min 0",
    "5,2026-03-01 10:00:00,20000,EUR,1": "`amount` is above its max 10000",
    "6,2026-03-01 10:00:00,5,GBP,1": "`currency` is not one of EUR, USD",
    "7,2026-03-01 10:00:00,,EUR,1": "`amount` is null but may not be",
    "8,yesterday noon,5,EUR,1": "`paid_at` is not a timestamp",
    ",2026-03-01 10:00:00,5,EUR,1": "`card_id` is null but may not be",
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "feature_store.yaml").write_text(
        "project: payments\nprovider: local\nentity_key_serialization_version: 3\n"
    )
    (repo / "payments.py").write_text(DEFINITIONS)
    return repo


def write_csv(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join([HEADER, *lines]) + "\n")
    return path


def test_bad_rows_go_to_the_reject_file_with_their_reason_and_good_rows_are_kept(
    repo: Path, tmp_path: Path
) -> None:
    settings = load_settings(repo_path=repo, data_dir=tmp_path / "data")
    csv = write_csv(tmp_path / "payments.csv", [*GOOD, *BAD])

    done = ingest_source_files(settings, str(csv), "payments")

    assert (done.rows_read, done.rows_new, done.rows_present) == (10, 3, 0)
    assert done.rejected == {reason: 1 for reason in BAD.values()}
    assert done.rejects is not None
    assert done.rejects.parent == settings.data_dir / "rejects" / "payments"
    rejects = pq.read_table(done.rejects).to_pylist()
    assert {row["card_id"]: row["reason"] for row in rejects} == {
        line.split(",")[0] or None: reason for line, reason in BAD.items()
    }
    written = pq.read_table(settings.data_dir / "sources" / "payments.parquet")
    assert written.schema.field("paid_at").type == pa.timestamp("us", tz="UTC")
    assert written.schema.field("loaded_at").type == pa.timestamp("us", tz="UTC")
    assert (written.schema.field("card_id").type, written.schema.field("items").type) == (
        pa.int64(),
        pa.int64(),
    )
    rows = [
        (row["card_id"], row["paid_at"].isoformat(), row["amount"], row["currency"], row["items"])
        for row in written.to_pylist()
    ]
    assert rows == [
        (1, "2026-03-01T10:00:00+00:00", 12.5, "EUR", 1),
        (1, "2026-03-01T11:00:00+00:00", 99.9, None, 3),
        (2, "2026-03-01T11:00:00+00:00", 0.0, "USD", None),
    ]
    assert [row["loaded_at"] for row in written.to_pylist()] == [
        row["paid_at"] for row in written.to_pylist()
    ]


def test_ingesting_the_same_file_again_changes_nothing(repo: Path, tmp_path: Path) -> None:
    settings = load_settings(repo_path=repo, data_dir=tmp_path / "data")
    csv = write_csv(tmp_path / "payments.csv", [*GOOD, *BAD])
    first = ingest_source_files(settings, str(csv), "payments")
    target = settings.data_dir / "sources" / "payments.parquet"
    before = (target.read_bytes(), first.rejects.read_bytes() if first.rejects else b"")

    again = ingest_source_files(settings, str(csv), "payments")
    after = (target.read_bytes(), first.rejects.read_bytes() if first.rejects else b"")
    more = write_csv(tmp_path / "more.csv", [GOOD[0], "9,2026-03-02 10:00:00,1,EUR,1"])
    added = ingest_source_files(settings, str(more), "payments")

    assert (again.rows_new, again.rows_present, again.output) == (0, 3, None)
    assert again.rejects == first.rejects
    assert after == before
    assert (added.rows_new, added.rows_present) == (1, 1)
    assert sorted(pq.read_table(target).column("card_id").to_pylist()) == [1, 1, 2, 9]


def test_json_lines_and_parquet_load_the_same_way(repo: Path, tmp_path: Path) -> None:
    settings = load_settings(repo_path=repo, data_dir=tmp_path / "data")
    lines = tmp_path / "payments.jsonl"
    at = '"paid_at": "2026-03-01T10:00:00Z"'
    lines.write_text(
        f'{{"card_id": 1, {at}, "amount": 3.5, "items": 1, "currency": null}}\n'
        f'{{"card_id": 2, {at}, "amount": -3, "items": 1, "currency": "EUR"}}\n'
    )
    frame = pa.table(
        {
            "card_id": pa.array([3], pa.int64()),
            "paid_at": pa.array(["2026-03-01 09:00:00"]),
            "amount": [4.0],
            "currency": ["USD"],
            "items": [2],
            "ignored": ["x"],
        }
    )
    pq.write_table(frame, tmp_path / "payments.parquet")

    from_json = ingest_source_files(settings, str(lines), "payments")
    from_parquet = ingest_source_files(settings, str(tmp_path / "*.parquet"), "payments")

    assert (from_json.rows_new, from_json.rejected) == (1, {"`amount` is below its min 0": 1})
    assert (from_parquet.rows_new, from_parquet.rejected) == (1, {})
    written = pq.read_table(settings.data_dir / "sources" / "payments.parquet")
    assert sorted(written.column("card_id").to_pylist()) == [1, 3]
    assert "ignored" not in written.column_names


def test_missing_columns_and_unknown_sources_are_refused(repo: Path, tmp_path: Path) -> None:
    settings = load_settings(repo_path=repo, data_dir=tmp_path / "data")
    csv = tmp_path / "short.csv"
    csv.write_text("card_id,paid_at\n1,2026-03-01 10:00:00\n")

    with pytest.raises(SourceDataError, match="no column\\(s\\) `amount`, `currency`, `items`"):
        ingest_source_files(settings, str(csv), "payments")
    with pytest.raises(SourceDataError, match=r"Source `paymnts` is not defined.*`payments`"):
        ingest_source_files(settings, str(csv), "paymnts")
    with pytest.raises(SourceDataError, match=r"No file matches `.*nothing-\*.csv`"):
        ingest_source_files(settings, str(tmp_path / "nothing-*.csv"), "payments")


def test_the_command_prints_a_count_per_reason(repo: Path, tmp_path: Path) -> None:
    csv = write_csv(tmp_path / "payments.csv", [*GOOD, *BAD, list(BAD)[1]])
    data_dir = tmp_path / "data"

    result = CliRunner().invoke(
        app,
        [
            "ingest",
            str(csv),
            "--source",
            "payments",
            "--repo",
            str(repo),
            "--data-dir",
            str(data_dir),
        ],
        env={"COLUMNS": "200"},
    )

    assert result.exit_code == 0, result.output
    assert "Wrote 3 new rows to" in result.stdout
    assert "Rejected 8 rows" in result.stdout
    assert "       2  `amount` is below its min 0" in result.stdout
    assert "       1  `paid_at` is not a timestamp" in result.stdout
