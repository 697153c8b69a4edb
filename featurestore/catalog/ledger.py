"""Registered models and the audit log, in one SQLite file; every write is one transaction.

The same file holds the registered metadata layer (`catalog/registered.py`). Every change
appends an audit entry, so the largest audit id is the store's version: cheap to read on each
request, and it grows with every write from any process.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from featurestore.catalog.entries import ModelEntry
from featurestore.errors import ServiceError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS models (
    name TEXT PRIMARY KEY,
    feature_service TEXT NOT NULL,
    training_set TEXT,
    purposes TEXT NOT NULL,
    owner TEXT NOT NULL,
    description TEXT NOT NULL,
    registered_at TEXT NOT NULL,
    registered_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    object_kind TEXT NOT NULL,
    object_name TEXT NOT NULL,
    changes TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_object ON audit (object_kind, object_name);
"""


@dataclass(frozen=True)
class AuditEntry:
    """Who changed what, when, and the values before and after."""

    id: int
    at: str
    actor: str
    role: str
    action: str
    object_kind: str
    object_name: str
    changes: dict[str, Any]
    origin: str | None = None
    """Where the change came from when not the API, e.g. the definition file `apply` read."""


class Ledger:
    """The catalog's own records, safe for concurrent writers in threads and processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._connection() as con:
            con.executescript(_SCHEMA)  # idempotent; executescript manages its own commits
            columns = {row["name"] for row in con.execute("PRAGMA table_info(audit)")}
            if "origin" not in columns:  # ledgers written before `apply` was audited
                con.execute("ALTER TABLE audit ADD COLUMN origin TEXT")

    def register_model(self, model: ModelEntry, role: str) -> tuple[ModelEntry, AuditEntry]:
        """Insert or update a model and audit the change, atomically."""
        with self._transaction() as con:
            row = con.execute("SELECT * FROM models WHERE name = ?", (model.name,)).fetchone()
            before = _model(row) if row else None
            values = asdict(model)
            values["purposes"] = ",".join(model.purposes)
            con.execute(
                "INSERT OR REPLACE INTO models VALUES (:name, :feature_service, :training_set, "
                ":purposes, :owner, :description, :registered_at, :registered_by)",
                values,
            )
            changes = _diff(asdict(before) if before else {}, asdict(model))
            action = "update_model" if before else "register_model"
            entry = _insert_audit(
                con, model.registered_by, role, action, "model", model.name, changes
            )
        return model, entry

    def record(
        self, actor: str, role: str, action: str, kind: str, name: str, changes: dict[str, Any]
    ) -> AuditEntry:
        """Append one audit entry."""
        with self._transaction() as con:
            return _insert_audit(con, actor, role, action, kind, name, changes)

    def models(self) -> dict[str, ModelEntry]:
        """Every registered model by name."""
        with self._connection() as con:
            rows = con.execute("SELECT * FROM models ORDER BY name").fetchall()
        return {row["name"]: _model(row) for row in rows}

    def audit(
        self,
        *,
        limit: int = 50,
        offset: int = 0,
        object_kind: str | None = None,
        object_name: str | None = None,
    ) -> tuple[int, list[AuditEntry]]:
        """The total count and one page of audit entries, newest first."""
        where, params = [], []
        if object_kind is not None:
            where.append("object_kind = ?")
            params.append(object_kind)
        if object_name is not None:
            where.append("object_name = ?")
            params.append(object_name)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self._connection() as con:
            total = con.execute(f"SELECT count(*) FROM audit {clause}", params).fetchone()[0]
            rows = con.execute(
                f"SELECT * FROM audit {clause} ORDER BY id DESC LIMIT ? OFFSET ?",
                [*params, limit, offset],
            ).fetchall()
        return total, [_audit(row) for row in rows]

    def version(self) -> int:
        """Grows with every committed write (each write appends an audit entry).

        Read on a connection this thread keeps open: in autocommit mode every statement
        sees the latest commit of any process, and no connection is opened per request.
        """
        con: sqlite3.Connection | None = getattr(self._local, "connection", None)
        try:
            if con is None:
                con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
                self._local.connection = con
            row = con.execute("SELECT coalesce(max(id), 0) FROM audit").fetchone()
        except sqlite3.Error as exc:
            self._local.connection = None
            raise ServiceError(f"Cannot read the catalog ledger `{self.path}`: {exc}") from exc
        return int(row[0])

    def entries(self, after_id: int = 0) -> Iterator[AuditEntry]:
        """Every audit entry after `after_id`, oldest first (for replaying the log)."""
        with self._connection() as con:
            rows = con.execute(
                "SELECT * FROM audit WHERE id > ? ORDER BY id", (after_id,)
            ).fetchall()
        yield from (_audit(row) for row in rows)

    @contextlib.contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: a consistent view across statements, no write lock."""
        with self._connection() as con:
            con.execute("BEGIN")
            try:
                yield con
            finally:
                con.execute("COMMIT")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken before reading (`BEGIN IMMEDIATE`): writers queue."""
        with self._transaction() as con:
            yield con

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        try:
            con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except sqlite3.Error as exc:
            raise ServiceError(f"Cannot open the catalog ledger `{self.path}`: {exc}") from exc
        con.row_factory = sqlite3.Row
        try:
            con.execute("PRAGMA journal_mode=WAL")
            yield con
        except sqlite3.OperationalError as exc:
            raise ServiceError(
                f"The catalog ledger `{self.path}` is busy or unwritable ({exc}); retry."
            ) from exc
        finally:
            con.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._connection() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")


def insert_audit(
    con: sqlite3.Connection,
    actor: str,
    role: str,
    action: str,
    kind: str,
    name: str,
    changes: dict[str, Any],
    origin: str | None = None,
    at: str | None = None,
) -> AuditEntry:
    """Append one audit entry inside the caller's transaction."""
    at = at or datetime.now(UTC).isoformat(timespec="microseconds")
    text = json.dumps(changes, sort_keys=True, default=str)
    cursor = con.execute(
        "INSERT INTO audit (at, actor, role, action, object_kind, object_name, changes, origin) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (at, actor, role, action, kind, name, text, origin),
    )
    return AuditEntry(
        int(cursor.lastrowid or 0), at, actor, role, action, kind, name, changes, origin
    )


_insert_audit = insert_audit


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {
        key: {"before": before.get(key), "after": value}
        for key, value in after.items()
        if before.get(key) != value and key not in {"registered_at", "registered_by"}
    }


def _model(row: sqlite3.Row) -> ModelEntry:
    return ModelEntry(
        name=row["name"],
        feature_service=row["feature_service"],
        training_set=row["training_set"],
        purposes=tuple(p for p in row["purposes"].split(",") if p),
        owner=row["owner"],
        description=row["description"],
        registered_at=row["registered_at"],
        registered_by=row["registered_by"],
    )


def _audit(row: sqlite3.Row) -> AuditEntry:
    return AuditEntry(
        id=row["id"],
        at=row["at"],
        actor=row["actor"],
        role=row["role"],
        action=row["action"],
        object_kind=row["object_kind"],
        object_name=row["object_name"],
        changes=json.loads(row["changes"]),
        origin=row["origin"],
    )
