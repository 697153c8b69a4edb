"""featurestore: a feature store and data catalog for ML teams, built on Feast."""

from __future__ import annotations

from featurestore.errors import FeatureStoreError

__all__ = ["FeatureStoreError", "__version__"]
__version__ = "0.1.0"
