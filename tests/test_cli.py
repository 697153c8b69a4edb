"""The `featurestore` command as a user runs it: exit codes and one-line errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent / "feature_repo"

pytestmark = pytest.mark.e2e


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "featurestore", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    target = tmp_path / "repo"
    shutil.copytree(REPO, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def test_apply_without_owner_fails_with_one_line_naming_it(
    repo_copy: Path, tmp_path: Path, redis_url: str
) -> None:
    entities = repo_copy / "flights_entities.py"
    text = entities.read_text()
    start = text.index('name="plane"')
    patched = text[:start] + text[start:].replace("owner=OWNER,", 'owner="",', 1)
    entities.write_text(patched)

    result = run_cli(
        "apply",
        "--repo",
        str(repo_copy),
        "--data-dir",
        str(tmp_path / "data"),
        env={"FEATURESTORE_REDIS_URL": redis_url},
    )

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: entity `plane`: `owner` is missing; set `owner=` to the team or person responsible"
    ]
    assert not (tmp_path / "data" / "registry.db").exists()


def test_apply_registers_the_flights_repo(tmp_path: Path, redis_url: str) -> None:
    result = run_cli(
        "apply",
        "--data-dir",
        str(tmp_path / "data"),
        env={"FEATURESTORE_REDIS_URL": redis_url},
    )

    assert result.returncode == 0, result.stderr
    assert "Applied project flights" in result.stdout
    assert "4 feature view(s)" in result.stdout
    assert (tmp_path / "data" / "registry.db").is_file()


def test_bad_setting_is_a_one_line_error(tmp_path: Path) -> None:
    result = run_cli("apply", env={"FEATURESTORE_API_PORT": "not-a-port"})

    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "`api_port` = `not-a-port`" in result.stderr


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["ingest", "trains"],
            "Error: Invalid value for 'dataset': Value error, 'trains' is not one of 'flights'. "
            "See `featurestore ingest --help`.",
        ),
        (
            ["materialize", "--start", "2013-13-01"],
            "Error: Invalid value for --start: `2013-13-01` is not an ISO 8601 time, e.g. "
            "2013-12-31 or 2013-12-31T23:00:00Z. See `featurestore materialize --help`.",
        ),
        (["--bogus"], "Error: No such option: --bogus. See `featurestore --help`."),
    ],
)
def test_a_bad_option_is_one_line_and_exit_1(args: list[str], line: str) -> None:
    result = run_cli(*args)

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [line]


def test_apply_on_a_missing_repo_folder_is_one_clear_line(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-repo"

    result = run_cli("apply", "--repo", str(missing), "--data-dir", str(tmp_path / "data"))

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: Setting `--repo` = `{missing}` is not usable: no such folder; pass the folder "
        "holding feature_store.yaml"
    ]


def test_apply_refuses_a_folder_without_feature_store_yaml_before_running_it(
    tmp_path: Path, redis_url: str
) -> None:
    folder = tmp_path / "not_a_repo"
    folder.mkdir()
    marker = tmp_path / "ran.txt"
    (folder / "script.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")

    result = run_cli(
        "apply",
        "--repo",
        str(folder),
        "--data-dir",
        str(tmp_path / "data"),
        env={"FEATURESTORE_REDIS_URL": redis_url},
    )

    assert result.returncode == 1
    assert "feature_store.yaml" in result.stderr
    assert not marker.exists()
