"""Training sets: point-in-time correct, split by time, checked for leakage, reproducible."""

from __future__ import annotations

from featurestore.training.builder import (
    LeakageError,
    TrainingSetRequest,
    TrainingSetResult,
    build_training_set,
)
from featurestore.training.splits import SplitError, SplitSpec

__all__ = [
    "LeakageError",
    "SplitError",
    "SplitSpec",
    "TrainingSetRequest",
    "TrainingSetResult",
    "build_training_set",
]
