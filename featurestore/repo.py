"""The one place that builds `feast.FeatureStore` and loads the feature repo's definitions."""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from feast import FeatureStore, RepoConfig
from feast.repo_contents import RepoContents
from feast.repo_operations import parse_repo

from featurestore.definitions import using_data_dir
from featurestore.errors import ConfigError, FeatureStoreError
from featurestore.settings import Settings, repo_search_description

if TYPE_CHECKING:
    from featurestore.layers import RegisteredLayer
    from featurestore.policy import Policy

FEATURE_STORE_YAML = "feature_store.yaml"


def read_repo_yaml(repo_path: Path) -> dict[str, Any]:
    """The repo's feature_store.yaml as a dict, environment variables expanded."""
    path = repo_path / FEATURE_STORE_YAML
    if not path.is_file():
        raise ConfigError(
            "repo_path",
            repo_path,
            f"no {FEATURE_STORE_YAML} there ({repo_search_description()}); run "
            "`featurestore init` to create a repo, or pass `--repo`",
        )
    loaded = yaml.safe_load(os.path.expandvars(path.read_text()))
    if not isinstance(loaded, dict) or "project" not in loaded:
        raise ConfigError("repo_path", path, "feature_store.yaml must be a mapping with `project`")
    return loaded


def build_repo_config(settings: Settings, redis_url: str) -> RepoConfig:
    """Feast's config for this repo: registry in the data dir, Redis from `redis_url`."""
    from featurestore.online.connection import feast_online_store  # the package imports this

    raw = read_repo_yaml(settings.repo_path)
    configured = raw.get("online_store")
    online: dict[str, Any] = configured if isinstance(configured, dict) else {}
    # Same server(s) as our client: a `redis+cluster://` URL becomes `redis_type: redis_cluster`.
    raw["online_store"] = {**online, **feast_online_store(redis_url)}
    raw["registry"] = {
        "registry_type": "file",
        "path": str((settings.data_dir / "registry.db").resolve()),
        # 0 = no expiry: Feast re-reads the file when its mtime changes, and the rights path
        # refreshes on every change of the metadata version, never on a timer.
        "cache_ttl_seconds": 0,
    }
    raw.setdefault("provider", "local")
    raw.setdefault("entity_key_serialization_version", 3)
    try:
        config = RepoConfig(**raw)
    except Exception as exc:  # Feast raises pydantic and its own errors here
        raise ConfigError("repo_path", settings.repo_path / FEATURE_STORE_YAML, str(exc)) from exc
    config.repo_path = settings.repo_path.resolve()
    return config


def open_store(settings: Settings, redis_url: str) -> FeatureStore:
    """A Feast FeatureStore over this repo's registry and the given Redis."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return FeatureStore(config=build_repo_config(settings, redis_url))


def load_definitions(settings: Settings) -> RepoContents:
    """Import the repo's Python definitions against the settings' data dir."""
    repo_path = settings.repo_path.resolve()
    # Check the folder is a feature repo before importing any of its Python files.
    read_repo_yaml(repo_path)
    # Resolved before loading changes into the repo folder: a relative data dir means the CWD's.
    data_dir = settings.data_dir.resolve()
    with _importable(repo_path), using_data_dir(data_dir):
        try:
            return parse_repo(repo_path)
        except FeatureStoreError:
            raise
        except Exception as exc:
            raise ConfigError(
                "repo_path", repo_path, f"a definition failed to load: {type(exc).__name__}: {exc}"
            ) from exc


@contextlib.contextmanager
def _importable(repo_path: Path) -> Iterator[None]:
    """Make the repo importable the way Feast's parser expects, then restore the process.

    Feast names modules by their path relative to the working directory, so loading
    changes directory into the repo for its duration (not thread-safe, like `feast apply`).
    """
    # Drop this repo's modules, and same-named modules of another repo loaded earlier in the
    # process (e.g. a copy of it): `import sources` would otherwise get the stale one.
    local_names = {path.stem for path in repo_path.glob("*.py")}
    for name, module in list(sys.modules.items()):
        origin = getattr(module, "__file__", None)
        if not origin:
            continue
        stale = name in local_names and Path(origin).resolve().parent != repo_path
        if stale or Path(origin).resolve().is_relative_to(repo_path):
            del sys.modules[name]
    previous_cwd = Path.cwd()
    sys.path.insert(0, str(repo_path))
    importlib.invalidate_caches()
    os.chdir(repo_path)
    try:
        yield
    finally:
        os.chdir(previous_cwd)
        with contextlib.suppress(ValueError):
            sys.path.remove(str(repo_path))


def data_dir_of(store: FeatureStore) -> Path:
    """The data dir a store built by `open_store` keeps its registry (and catalog) in."""
    registry = store.config.registry
    return Path(getattr(registry, "path", registry)).parent


def policy_for_store(store: FeatureStore, registered: RegisteredLayer | None = None) -> Policy:
    """The rights policy over everything registered in the store's project: declared terms
    from the registry and registered terms from the catalog store of the same data dir."""
    from featurestore.registry import Registry

    return Registry(store).policy(registered)
