"""Where a view's offline data lives on disk, and a fingerprint that changes when it does."""

from __future__ import annotations

import glob
import hashlib
from dataclasses import dataclass
from pathlib import Path

from featurestore.errors import SourceDataError
from featurestore.sql import quote_literal

_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class SourceFiles:
    """The Parquet files behind one source path (a file, a folder or a glob)."""

    path: str
    files: tuple[Path, ...]

    @property
    def table_sql(self) -> str:
        """A DuckDB table expression reading every file."""
        listed = ", ".join(quote_literal(str(file)) for file in self.files)
        return f"read_parquet([{listed}], union_by_name = true)"

    def fingerprint(self) -> str:
        """SHA-256 over each file's path, size and modification time."""
        digest = hashlib.sha256(self.path.encode())
        for file in self.files:
            stat = file.stat()
            digest.update(f"\0{file}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
        return digest.hexdigest()


def source_files(path: str, *, owner: str) -> SourceFiles:
    """The Parquet files at `path`; SourceDataError naming `owner` when there are none."""
    if "://" in path and not path.startswith("file://"):
        raise SourceDataError(
            f"Source `{path}` of {owner} is remote; coverage reads local Parquet files only."
        )
    local = path.removeprefix("file://")
    if _GLOB_CHARS & set(local):
        files = [Path(p) for p in sorted(glob.glob(local, recursive=True))]
    elif Path(local).is_dir():
        files = sorted(Path(local).rglob("*.parquet"))
    else:
        files = [Path(local)] if Path(local).is_file() else []
    if not files:
        raise SourceDataError(
            f"No Parquet data at `{path}` for {owner}; run `featurestore ingest` or "
            "materialize the source first."
        )
    return SourceFiles(path, tuple(files))
