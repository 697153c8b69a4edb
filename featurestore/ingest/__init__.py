"""Ingest a team's files into the Parquet sources its feature repo declares."""

from __future__ import annotations

from featurestore.ingest.files import FilesIngested, ingest_files, ingest_source_files

__all__ = ["FilesIngested", "ingest_files", "ingest_source_files"]
