"""The training-set manifest: everything needed to know what a set holds and to rebuild it."""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Iterable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pyarrow as pa
from feast import FeatureStore, FeatureView

from featurestore.policy import Policy
from featurestore.registry import Registry

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
_PACKAGES = ("featurestore", "feast", "duckdb", "pyarrow")


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def table_sha256(table: pa.Table) -> str:
    """Hex SHA-256 of a table's contents in Arrow IPC form (order and types included)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table.combine_chunks())
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


def view_definition_sha256(view: FeatureView) -> str:
    """Hash of a view's spec (not its registry timestamps): changes when the definition does."""
    return hashlib.sha256(_definition_bytes(view.to_proto().spec)).hexdigest()


def _definition_bytes(spec: Any) -> bytes:
    """A view spec without the registry's bookkeeping times of its sources, fields sorted
    (Feast stores a stream feature view's schema in no stable order)."""
    spec = type(spec).FromString(spec.SerializeToString())
    for repeated in ("features", "entity_columns"):
        if hasattr(spec, repeated):
            fields = sorted(getattr(spec, repeated), key=lambda column: column.name)
            del getattr(spec, repeated)[:]
            getattr(spec, repeated).extend(fields)
    for source_field in ("batch_source", "stream_source"):
        if spec.HasField(source_field):
            getattr(spec, source_field).ClearField("meta")
            if getattr(spec, source_field).HasField("batch_source"):
                getattr(spec, source_field).batch_source.ClearField("meta")
    return bytes(spec.SerializeToString(deterministic=True))


def package_versions(extra: Sequence[str] = ()) -> dict[str, str]:
    """Versions of the engine's packages (and of `extra` ones, such as pyspark) and of Python."""
    versions = {"python": platform.python_version()}
    for name in (*_PACKAGES, *extra):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "unknown"
    return versions


def registry_version(store: FeatureStore) -> str:
    """A fingerprint of the feature view definitions registered in the store's project.

    Views are read back as Feast objects, as for `view_definition_sha256`: the raw registry
    bytes change when Feast re-serialises an unchanged view (after a materialization)."""
    views = Registry(store).feature_views()
    digests = sorted(view_definition_sha256(view) for view in views)
    return hashlib.sha256("".join(digests).encode()).hexdigest()[:16]


def rights_section(policy: Policy, view_names: Iterable[str]) -> dict[str, Any]:
    """Effective rights terms of each view, with the chain of stated terms behind them."""
    section: dict[str, Any] = {}
    for name in sorted(set(view_names)):
        rights = policy.view_rights(name)
        section[name] = {
            "terms": rights.terms.model_dump(mode="json") if rights.terms else None,
            "chain": [
                {"kind": link.kind, "name": link.name, "terms": link.terms.model_dump(mode="json")}
                for link in rights.chain
            ],
        }
    return section


def write_manifest(directory: Path, manifest: dict[str, Any]) -> Path:
    """Write the manifest as stable, sorted JSON (same inputs → same bytes)."""
    path = directory / MANIFEST_NAME
    text = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text)
    partial.replace(path)
    return path
