"""Finding and loading the feature repo: no fallback to the example, paths resolve where the
user ran the command, views checked against their source files."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from feast.infra.offline_stores.file_source import FileSource

from featurestore.errors import ConfigError
from featurestore.repo import load_definitions, read_repo_yaml
from featurestore.scaffold import init_repo
from featurestore.settings import find_repo, load_settings
from featurestore.source_check import check_sources

REPO = Path(__file__).resolve().parent.parent / "feature_repo"


def test_relative_data_dir_resolves_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(data_dir=Path("data"), repo_path=REPO)

    contents = load_definitions(settings)

    paths = {s.name: s.path for s in contents.data_sources if isinstance(s, FileSource)}
    assert paths["weather_hourly_source"] == str(tmp_path / "data" / "sources" / "weather.parquet")
    assert Path.cwd() == tmp_path


def test_the_repo_is_found_in_the_working_directory_or_above(tmp_path: Path) -> None:
    init_repo(tmp_path / "shop")
    nested = tmp_path / "shop" / "feature_repo" / "sub"
    nested.mkdir()

    assert find_repo(tmp_path / "shop") == (tmp_path / "shop" / "feature_repo").resolve()
    assert find_repo(nested) == (tmp_path / "shop" / "feature_repo").resolve()
    assert find_repo(tmp_path) is None


def test_without_a_repo_nothing_falls_back_to_the_flights_example(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FEATURESTORE_REPO_PATH", raising=False)

    settings = load_settings()

    assert settings.repo_path == tmp_path.resolve() / "feature_repo"
    with pytest.raises(ConfigError) as raised:
        read_repo_yaml(settings.repo_path)
    message = str(raised.value)
    assert "featurestore init" in message
    assert "FEATURESTORE_REPO_PATH" in message
    assert f"`{tmp_path.resolve()}` and its parents" in message
    assert "\n" not in message


def test_source_check_names_the_view_the_column_and_the_file(tmp_path: Path) -> None:
    scaffold = init_repo(tmp_path / "shop")
    features = scaffold.repo_path / "features.py"
    text = features.read_text()
    text = text.replace('name="orders_7d"', 'name="orders_30d"')
    text = text.replace("dtype=Float64", "dtype=String").replace(
        'tags=semantics(unit="EUR", min=0)', "tags=semantics()"
    )
    features.write_text(text.replace("Float64, Int64", "Int64, String"))
    settings = load_settings(repo_path=scaffold.repo_path, data_dir=scaffold.data_dir)

    check = check_sources(load_definitions(settings), scaffold.repo_path)

    source = scaffold.data_dir / "sources" / "customer_daily_stats.parquet"
    assert len(check.problems) == 2
    assert check.problems[0].startswith(
        "Feature view `customer_daily_stats`: feature `orders_30d` is not a column of its "
        f"source file `{source.resolve()}`"
    )
    assert "feature `spend_7d` is declared `String` but" in check.problems[1]
    assert "holds `double`" in check.problems[1]


def test_source_check_warns_about_a_file_not_written_yet(tmp_path: Path) -> None:
    scaffold = init_repo(tmp_path / "shop")
    (scaffold.data_dir / "sources" / "customer_daily_stats.parquet").unlink()
    settings = load_settings(repo_path=scaffold.repo_path, data_dir=scaffold.data_dir)

    check = check_sources(load_definitions(settings), scaffold.repo_path)

    assert check.problems == []
    assert len(check.warnings) == 1
    assert "does not exist yet" in check.warnings[0]


def test_timestamp_fields_must_be_timestamps(tmp_path: Path) -> None:
    scaffold = init_repo(tmp_path / "shop")
    source = scaffold.data_dir / "sources" / "customer_daily_stats.parquet"
    table = pq.read_table(source)
    index = table.schema.get_field_index("created_timestamp")
    table = table.set_column(
        index, "created_timestamp", pc.cast(table["created_timestamp"], pa.string())
    )
    pq.write_table(table, source)
    settings = load_settings(repo_path=scaffold.repo_path, data_dir=scaffold.data_dir)

    check = check_sources(load_definitions(settings), scaffold.repo_path)

    assert check.problems == [
        f"Feature view `customer_daily_stats`: created timestamp column `created_timestamp` in "
        f"`{source.resolve()}` has type `string`; it must be a timestamp (write µs UTC "
        "timestamps)."
    ]
