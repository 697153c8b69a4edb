"""Settings precedence: explicit argument > FEATURESTORE_* variable > config file > default."""

from __future__ import annotations

from pathlib import Path

import pytest

from featurestore.errors import ConfigError
from featurestore.settings import load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("API_PORT", "DATA_DIR", "REDIS_URL", "CONFIG", "API_TOKENS"):
        monkeypatch.delenv(f"FEATURESTORE_{name}", raising=False)
    monkeypatch.chdir(tmp_path)


def write_config(path: Path, body: str) -> Path:
    path.write_text(body)
    return path


def test_defaults_when_nothing_is_set() -> None:
    settings = load_settings()

    assert (settings.api_port, settings.redis_url, settings.kafka_bootstrap_servers) == (
        8000,
        None,
        None,
    )
    assert settings.data_dir == Path("data")


def test_file_beats_default(tmp_path: Path) -> None:
    config = write_config(tmp_path / "fs.toml", "[featurestore]\napi_port = 9100\n")

    assert load_settings(config).api_port == 9100


def test_environment_beats_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_config(tmp_path / "fs.toml", "[featurestore]\napi_port = 9100\n")
    monkeypatch.setenv("FEATURESTORE_API_PORT", "9200")

    assert load_settings(config).api_port == 9200


def test_explicit_argument_beats_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path / "fs.toml", "[featurestore]\napi_port = 9100\n")
    monkeypatch.setenv("FEATURESTORE_API_PORT", "9200")

    assert load_settings(config, api_port=9300).api_port == 9300


def test_default_file_in_working_directory_is_read(tmp_path: Path) -> None:
    write_config(tmp_path / "featurestore.toml", 'redis_url = "redis://db:6379/2"\n')

    assert load_settings().redis_url == "redis://db:6379/2"


def test_config_file_named_by_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write_config(tmp_path / "elsewhere.toml", "[featurestore]\ndata_dir = '/srv/fs'\n")
    monkeypatch.setenv("FEATURESTORE_CONFIG", str(config))

    assert load_settings().data_dir == Path("/srv/fs")


def test_api_tokens_from_environment_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEATURESTORE_API_TOKENS", '{"s3cret": "admin", "r": "reader"}')

    assert load_settings().api_tokens == {"s3cret": "admin", "r": "reader"}


def test_invalid_value_names_the_setting() -> None:
    with pytest.raises(ConfigError, match=r"`api_port` = `70000`"):
        load_settings(api_port=70000)


def test_unknown_key_in_file_is_an_error(tmp_path: Path) -> None:
    config = write_config(tmp_path / "fs.toml", "[featurestore]\nredis = 'x'\n")

    with pytest.raises(ConfigError, match="`redis`"):
        load_settings(config)


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_settings(tmp_path / "absent.toml")


def test_broken_toml_is_an_error(tmp_path: Path) -> None:
    config = write_config(tmp_path / "fs.toml", "[featurestore\n")

    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(config)
