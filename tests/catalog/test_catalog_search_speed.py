"""Search over a generated registry of 10,000 features answers with p99 under 50 ms."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from featurestore.catalog.search import SearchIndex

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "catalog_search.py"


def load_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("catalog_search_benchmark", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_p99_under_50_ms_over_10000_features() -> None:
    bench = load_benchmark()
    index = SearchIndex(bench.generate_features(10_000))
    bench.measure(index, bench.queries(100, seed=3))

    timings = bench.measure(index, bench.queries(600))

    assert len(index) == 10_000
    assert bench.percentile(timings, 0.99) < 50
