"""The `featurestore` command as a user runs it: exit codes and one-line errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from featurestore.scaffold import init_repo

REPO = Path(__file__).resolve().parent.parent / "feature_repo"

pytestmark = pytest.mark.e2e


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it; in `cwd`, without any FEATURESTORE_* variable of ours."""
    base = dict(os.environ)
    if cwd is not None:
        base = {k: v for k, v in base.items() if not k.startswith("FEATURESTORE_")}
    return subprocess.run(
        [sys.executable, "-m", "featurestore", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={**base, "COLUMNS": "200", **(env or {})},
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
            "Error: Invalid value for FILE_OR_GLOB: `trains` is not an example data set; pass "
            "`--source NAME` to load it into a source of the feature repo, or one of `flights`. "
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


def test_bracketed_field_names_survive_the_terminal(tmp_path: Path, redis_url: str) -> None:
    scaffold = init_repo(tmp_path / "shop")
    features = scaffold.repo_path / "features.py"
    features.write_text(
        features.read_text().replace('tags=semantics(unit="EUR", min=0)', "tags=semantics(min=0)")
    )

    result = run_cli(
        "apply",
        "--repo",
        str(scaffold.repo_path),
        "--data-dir",
        str(scaffold.data_dir),
        env={"FEATURESTORE_REDIS_URL": redis_url},
    )

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Error: feature view `customer_daily_stats`: `fields[spend_7d].tags[unit]` is missing; "
        "numeric fields need a unit"
    ]


def test_config_help_shows_its_table_name() -> None:
    result = run_cli("--help")

    assert "`[featurestore]` table" in result.stdout


def test_every_command_names_the_repo_and_data_dir_first_unless_quiet(tmp_path: Path) -> None:
    scaffold = init_repo(tmp_path / "shop")
    first = f"Repo: {scaffold.repo_path.resolve()} · Data: {scaffold.data_dir.resolve()}"

    loud = run_cli("materialize", "--incremental", cwd=scaffold.root)
    quiet = run_cli("--quiet", "materialize", "--incremental", cwd=scaffold.root)

    assert loud.stdout.splitlines()[0] == first
    assert quiet.stdout == ""
    assert loud.returncode == quiet.returncode == 1
    assert "No Redis configured" in quiet.stderr


def test_outside_any_repo_a_command_says_where_it_looked(tmp_path: Path) -> None:
    result = run_cli("apply", cwd=tmp_path)

    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert "featurestore init" in line
    assert str(tmp_path.resolve()) in line
    assert "flights" not in result.stdout + result.stderr


def test_stream_without_kafka_refuses_as_the_configuration_table_says(tmp_path: Path) -> None:
    scaffold = init_repo(tmp_path / "shop")

    result = run_cli("stream", cwd=scaffold.root)

    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Error: Setting `kafka_bootstrap_servers` = `None` is not usable")
    assert "set FEATURESTORE_KAFKA_BOOTSTRAP_SERVERS" in line
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert (
        "| `FEATURESTORE_KAFKA_BOOTSTRAP_SERVERS` | unset: `stream` and `replay` refuse" in readme
    )
