"""The registered metadata layer: one record per object and field, with a version per object.

It lives in the catalog's SQLite file beside the audit log, and every change to it is written
in the same transaction as its audit entry, so replaying the log from empty reproduces it
(`replay`). Feast registry objects never hold registered values; `featurestore apply` never
writes here (it only records its declared changes in the log and bumps versions).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from featurestore.catalog.ledger import AuditEntry, Ledger, insert_audit
from featurestore.errors import ConflictError
from featurestore.layers import RegisteredLayer, RegisteredMetadata, RegisteredValue

_SCHEMA = """
CREATE TABLE IF NOT EXISTS registered (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    actor TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (kind, name, key)
);
CREATE TABLE IF NOT EXISTS object_versions (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (kind, name)
);
"""

UPDATE_ACTION = "update_metadata"
APPLY_ACTION = "apply_definitions"


class VersionConflictError(ConflictError):
    """A write named a metadata version (`If-Match`) that is no longer the current one."""

    def __init__(self, kind: str, name: str, expected: str, current: int) -> None:
        self.kind = kind
        self.name = name
        self.expected = expected
        self.current = current
        self.headers = {"ETag": f'"{current}"'}  # sent with the 409 answer
        super().__init__(
            f"{kind.replace('_', ' ')} `{name}` is at metadata version `{current}`, not "
            f"`{expected}`: someone changed it since you read it. Read it again "
            f'(`ETag: "{current}"`) and retry with `If-Match: "{current}"`.'
        )


@dataclass(frozen=True)
class DeclaredChange:
    """What `apply` changed in one object's declared metadata, and the file that declares it."""

    kind: str
    name: str
    changes: dict[str, Any]
    origin: str | None


class RegisteredStore:
    """Reads and writes the registered layer in the ledger's SQLite file."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        with ledger.reading() as con:
            exists = con.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'object_versions'"
            ).fetchone()
        if not exists:
            with ledger.transaction() as con:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        con.execute(statement)

    def layer(self) -> dict[tuple[str, str], RegisteredMetadata]:
        """Every object's registered metadata and version."""
        with self.ledger.reading() as con:
            return _layer(con)

    def get(self, kind: str, name: str) -> RegisteredMetadata:
        """One object's registered metadata (empty, version 0, when nothing is registered)."""
        with self.ledger.reading() as con:
            return _object(con, kind, name)

    def write(
        self,
        kind: str,
        name: str,
        values: Mapping[str, Any | None],
        actor: str,
        role: str,
        *,
        if_match: str | None = None,
        origin: str | None = None,
        effective: Callable[[str, Any], Any] = lambda key, value: value,
    ) -> tuple[RegisteredMetadata, AuditEntry | None]:
        """Set (or, for None, remove) the named keys only; audit what changed.

        Each audited change holds the effective value `before` and `after` (computed by
        `effective(key, registered value or None)`) and the `registered` value after it,
        which is what replaying the log restores. With `if_match`, refuses
        (VersionConflictError) unless the object is still at that version. A write that
        changes nothing records nothing and keeps the version.
        """
        with self.ledger.transaction() as con:
            current = _object(con, kind, name)
            if if_match is not None and if_match != str(current.version):
                raise VersionConflictError(kind, name, if_match, current.version)
            changes: dict[str, Any] = {}
            for key, value in values.items():
                record = current.values.get(key)
                old = record.value if record is not None else None
                if _canonical(old) != _canonical(value):
                    changes[key] = {
                        "before": effective(key, old),
                        "after": effective(key, value),
                        "registered": value,
                    }
            if not changes:
                return current, None
            entry = insert_audit(con, actor, role, UPDATE_ACTION, kind, name, changes, origin)
            for key, change in changes.items():
                if change["registered"] is None:
                    con.execute(
                        "DELETE FROM registered WHERE kind = ? AND name = ? AND key = ?",
                        (kind, name, key),
                    )
                else:
                    con.execute(
                        "INSERT OR REPLACE INTO registered VALUES (?, ?, ?, ?, ?, ?)",
                        (kind, name, key, _canonical(change["registered"]), actor, entry.at),
                    )
            _bump(con, kind, name)
            return _object(con, kind, name), entry

    def record_declared(self, changes: Iterable[DeclaredChange]) -> list[AuditEntry]:
        """Audit `apply`'s changes to declared metadata and bump those objects' versions."""
        entries = []
        with self.ledger.transaction() as con:
            for change in changes:
                entries.append(
                    insert_audit(
                        con,
                        "apply",
                        "definitions",
                        APPLY_ACTION,
                        change.kind,
                        change.name,
                        change.changes,
                        change.origin,
                    )
                )
                _bump(con, change.kind, change.name)
        return entries


def replay(entries: Iterable[AuditEntry]) -> dict[tuple[str, str], dict[str, Any]]:
    """The registered layer (values by key, per object) that the audit log describes."""
    layer: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in entries:
        if entry.action != UPDATE_ACTION:
            continue
        values = layer.setdefault((entry.object_kind, entry.object_name), {})
        for key, change in entry.changes.items():
            if change["registered"] is None:
                values.pop(key, None)
            else:
                values[key] = change["registered"]
    return {key: values for key, values in layer.items() if values}


def values_of(layer: RegisteredLayer) -> dict[tuple[str, str], dict[str, Any]]:
    """The registered values alone, per object (what `replay` reproduces)."""
    return {
        key: {k: record.value for k, record in meta.values.items()}
        for key, meta in layer.items()
        if meta.values
    }


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _bump(con: sqlite3.Connection, kind: str, name: str) -> None:
    con.execute(
        "INSERT INTO object_versions VALUES (?, ?, 1) "
        "ON CONFLICT (kind, name) DO UPDATE SET version = version + 1",
        (kind, name),
    )


def _object(con: sqlite3.Connection, kind: str, name: str) -> RegisteredMetadata:
    row = con.execute(
        "SELECT version FROM object_versions WHERE kind = ? AND name = ?", (kind, name)
    ).fetchone()
    rows = con.execute(
        "SELECT key, value, actor, at FROM registered WHERE kind = ? AND name = ?", (kind, name)
    ).fetchall()
    return RegisteredMetadata(
        kind,
        name,
        int(row[0]) if row else 0,
        {key: RegisteredValue(json.loads(value), actor, at) for key, value, actor, at in rows},
    )


def _layer(con: sqlite3.Connection) -> dict[tuple[str, str], RegisteredMetadata]:
    versions = {
        (kind, name): int(version)
        for kind, name, version in con.execute("SELECT kind, name, version FROM object_versions")
    }
    values: dict[tuple[str, str], dict[str, RegisteredValue]] = {}
    for kind, name, key, value, actor, at in con.execute(
        "SELECT kind, name, key, value, actor, at FROM registered"
    ):
        values.setdefault((kind, name), {})[key] = RegisteredValue(json.loads(value), actor, at)
    return {
        key: RegisteredMetadata(key[0], key[1], versions.get(key, 0), values.get(key, {}))
        for key in versions.keys() | values.keys()
    }


def catalog_path(data_dir: Path) -> Path:
    """The catalog's SQLite file (audit log, models, registered metadata) in a data dir."""
    return data_dir / "catalog" / "catalog.sqlite"


def read_layer(data_dir: Path) -> dict[tuple[str, str], RegisteredMetadata]:
    """The registered layer of a data dir; empty when nothing was ever registered there."""
    path = catalog_path(data_dir)
    if not path.is_file():
        return {}
    return RegisteredStore(Ledger(path)).layer()


class MetadataVersion:
    """A cheap key that changes whenever any process changes definitions or registered
    metadata: the registry file's identity and the catalog store's last audit id."""

    def __init__(self, data_dir: Path) -> None:
        self._registry = data_dir / "registry.db"
        self._ledger = Ledger(catalog_path(data_dir))

    def current(self) -> tuple[int, int, int, int]:
        try:
            stat = self._registry.stat()
            registry = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            registry = (0, 0, 0)
        return (*registry, self._ledger.version())
