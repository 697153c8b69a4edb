"""featurestore: a feature store and data catalog for ML teams, built on Feast.

`from featurestore import FeatureStore` is the Python entry point (imported on first use, so
the command line does not pay for Feast when it does not need it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from featurestore.errors import FeatureStoreError

if TYPE_CHECKING:
    from featurestore.store import FeatureStore

__all__ = ["FeatureStore", "FeatureStoreError", "__version__"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "FeatureStore":
        from featurestore.store import FeatureStore

        return FeatureStore
    raise AttributeError(f"module 'featurestore' has no attribute {name!r}")
