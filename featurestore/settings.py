"""One settings object per process: explicit argument > FEATURESTORE_* variable > file > default."""

from __future__ import annotations

import contextvars
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from featurestore.errors import ConfigError

Role = Literal["serving", "reader", "registrar", "admin"]


class TokenConfig(BaseModel):
    """What an API token may do, and the actor name the audit log shows for it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Role = Field(description="`serving`, `reader`, `registrar` or `admin`.")
    name: str | None = Field(
        default=None,
        min_length=1,
        description="Actor name in the audit log, e.g. `data-governance`. Unset: a keyed hash "
        "of the token.",
    )


CONFIG_FILE_ENV = "FEATURESTORE_CONFIG"
DEFAULT_CONFIG_FILE = Path("featurestore.toml")

_config_file: contextvars.ContextVar[Path | None] = contextvars.ContextVar(
    "featurestore_config_file", default=None
)


REPO_DIR_NAME = "feature_repo"
REPO_FILE_NAME = "feature_store.yaml"


def find_repo(start: Path | None = None) -> Path | None:
    """`<start>/feature_repo`, else the nearest folder holding feature_store.yaml at or above
    `start` (default: the working directory), else None; never a repo elsewhere."""
    here = (start or Path.cwd()).resolve()
    local = here / REPO_DIR_NAME
    if (local / REPO_FILE_NAME).is_file():
        return local
    for folder in (here, *here.parents):
        if (folder / REPO_FILE_NAME).is_file():
            return folder
    return None


def repo_search_description(start: Path | None = None) -> str:
    """Where a repo is looked for, in words, for the error that says none was found."""
    here = (start or Path.cwd()).resolve()
    return (
        f"looked at `--repo`, FEATURESTORE_REPO_PATH, `{here / REPO_DIR_NAME}`, then for "
        f"{REPO_FILE_NAME} in `{here}` and its parents"
    )


def _default_repo_path() -> Path:
    """The repo `find_repo` finds; else `./feature_repo`, which commands then report missing."""
    return find_repo() or Path(REPO_DIR_NAME).resolve()


class Settings(BaseSettings):
    """Where the repo and data live and which services to talk to."""

    model_config = SettingsConfigDict(env_prefix="FEATURESTORE_", extra="forbid")

    repo_path: Path = Field(
        default_factory=_default_repo_path,
        description="Folder of the Feast definitions (holds feature_store.yaml); default: "
        "`./feature_repo`, else the nearest feature_store.yaml in the working directory or its "
        "parents.",
    )
    data_dir: Path = Field(
        default=Path("data"),
        description="Folder for the Parquet sources, the registry and training sets.",
    )
    redis_url: str | None = Field(
        default=None,
        description="Online store, e.g. `redis://host:6379/0`, `unix:///path.sock` or "
        "`redis+cluster://host1:6379,host2:6379` for a Redis Cluster. Unset: `apply`, "
        "`training-set`, `serve` and `demo` start an embedded server for the command; "
        "`materialize` and `stream`, whose writes must outlive the command, refuse.",
    )
    kafka_bootstrap_servers: str | None = Field(
        default=None,
        description="Comma-separated `host:port` list. Unset: `demo` starts an embedded broker; "
        "`stream` and `replay` refuse.",
    )
    api_host: str = Field(default="127.0.0.1", description="Address the catalog API binds.")
    api_port: int = Field(default=8000, ge=0, le=65535, description="Port of the catalog API.")
    api_tokens: dict[str, Role | TokenConfig] = Field(
        default_factory=dict,
        description="Bearer token → role (`serving`, `reader`, `registrar` or `admin`), or → "
        '`{"role": …, "name": …}` to name the actor the audit log shows.',
    )
    online_features_open: bool = Field(
        default=False,
        description="Serve `POST /online/features` without a token even when `api_tokens` is set.",
    )
    online_max_entity_rows: int = Field(
        default=1000, ge=1, description="Most entity rows one online request may ask for (413)."
    )
    online_max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="Largest online request body in bytes (413)."
    )
    serving_log_sample_rate: float = Field(
        default=0.1,
        ge=0.0,
        le=1.0,
        description="Share of online requests logged to the serving log (0 turns it off).",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _ConfigFileSource(settings_cls))

    @property
    def registry_path(self) -> Path:
        """The Feast registry file; it lives with the data it describes."""
        return self.data_dir / "registry.db"


class _ConfigFileSource(PydanticBaseSettingsSource):
    """Values from the TOML config file's `[featurestore]` table (or its top level)."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        self._values = _read_config_file(_resolve_config_file())

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._values)


def _resolve_config_file() -> Path | None:
    explicit = _config_file.get()
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError("config_file", explicit, "no such file; pass an existing TOML file")
        return explicit
    from_env = os.environ.get(CONFIG_FILE_ENV)
    if from_env:
        path = Path(from_env)
        if not path.is_file():
            raise ConfigError(CONFIG_FILE_ENV, from_env, "no such file; unset it or fix the path")
        return path
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


def _read_config_file(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        document = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("config_file", path, f"not valid TOML ({exc})") from exc
    table = document.get("featurestore", document)
    if not isinstance(table, dict):
        raise ConfigError("config_file", path, "`[featurestore]` must be a table")
    return table


def load_settings(config_file: Path | None = None, **explicit: Any) -> Settings:
    """Build the settings; explicit values win over the environment, which wins over the file."""
    token = _config_file.set(config_file)
    try:
        return Settings(**{k: v for k, v in explicit.items() if v is not None})
    except ValidationError as exc:
        error = exc.errors()[0]
        name = ".".join(str(part) for part in error["loc"]) or "settings"
        raise ConfigError(name, error.get("input"), error["msg"]) from None
    finally:
        _config_file.reset(token)
