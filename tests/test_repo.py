"""Loading the feature repo: paths resolve where the user ran the command."""

from __future__ import annotations

from pathlib import Path

import pytest
from feast.infra.offline_stores.file_source import FileSource

from featurestore.repo import load_definitions
from featurestore.settings import load_settings

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
