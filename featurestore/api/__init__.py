"""HTTP entry point: the catalog and online serving API."""

from __future__ import annotations

from featurestore.api.app import create_app

__all__ = ["create_app"]
