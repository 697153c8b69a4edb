"""Catalog search over a generated registry of 10,000 features: p50/p99 query latency.

Run: `python benchmarks/catalog_search.py [--features 10000] [--queries 2000]`.
Each query is timed end to end in the library (ranking, filters, facets, one page of 20),
over a mix of one-word, two-word, prefix, filtered and empty queries.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from featurestore.catalog.entries import FeatureEntry
from featurestore.catalog.search import SearchFilters, SearchIndex
from featurestore.metadata import FieldSemantics, RightsTerms
from featurestore.policy import EffectiveRights, TermSource

DOMAINS = ["flights", "weather", "payments", "customers", "inventory", "marketing", "logistics"]
NOUNS = [
    "temperature",
    "delay",
    "revenue",
    "balance",
    "clicks",
    "orders",
    "distance",
    "speed",
    "pressure",
    "humidity",
    "visits",
    "refunds",
    "sessions",
    "stock",
    "returns",
    "latency",
    "departures",
    "arrivals",
    "price",
    "discount",
    "rating",
    "complaints",
    "weight",
    "volume",
]
STATS = ["mean", "max", "min", "sum", "count", "p95", "stddev", "last", "rate"]
WINDOWS = ["1h", "6h", "24h", "7d", "30d", "90d"]
UNITS = ["count", "min", "usd", "degF", "percent", "mile", "kg", "1"]
ENTITIES = ["airport", "carrier", "customer", "merchant", "product", "warehouse", "route"]
OWNERS = [f"team-{i}@example.org" for i in range(25)]
PURPOSE_SETS = [
    ("analytics", "serving", "training"),
    ("analytics", "serving"),
    ("analytics",),
    ("research", "training"),
]
PII = ["none", "pseudonymous", "personal", "sensitive"]


def generate_features(count: int = 10_000, seed: int = 7) -> list[FeatureEntry]:
    """`count` features over count/20 views with realistic names, descriptions and rights."""
    rng = random.Random(seed)
    features: list[FeatureEntry] = []
    view_count = max(1, count // 20)
    for v in range(view_count):
        domain = rng.choice(DOMAINS)
        entity = rng.choice(ENTITIES)
        view = f"{domain}_{entity}_{v}"
        terms = RightsTerms(
            license=rng.choice(["CC0-1.0", "LicenseRef-internal", "CC-BY-4.0"]),
            pii=rng.choice(PII),
            purposes=rng.choice(PURPOSE_SETS),
        )
        rights = EffectiveRights(
            "feature view", view, terms, (TermSource("feature view", view, terms),)
        )
        kind = rng.choice(["batch", "batch", "batch", "stream", "on_demand"])
        owner = rng.choice(OWNERS)
        view_description = (
            f"{domain.title()} features per {entity}, refreshed {rng.choice(WINDOWS)}."
        )
        for f in range(count // view_count if v < view_count - 1 else count - len(features)):
            noun, stat, window = rng.choice(NOUNS), rng.choice(STATS), rng.choice(WINDOWS)
            unit = rng.choice(UNITS)
            features.append(
                FeatureEntry(
                    view=view,
                    name=f"{stat}_{noun}_{window}_{f}",
                    dtype="Float64",
                    description=f"The {stat} of {noun} per {entity} over the last {window}.",
                    tags={"unit": unit, "domain": domain},
                    semantics=FieldSemantics(unit=unit),
                    view_kind=kind,  # type: ignore[arg-type]
                    view_description=view_description,
                    owner=owner,
                    view_tags={"domain": domain},
                    entities=(entity,),
                    rights=rights,
                )
            )
    return features


def queries(count: int, seed: int = 11) -> list[tuple[str, SearchFilters]]:
    """A mix of query shapes, from one word to filtered and empty queries."""
    rng = random.Random(seed)
    shapes = [
        lambda: (rng.choice(NOUNS), SearchFilters()),
        lambda: (f"{rng.choice(STATS)} {rng.choice(NOUNS)}", SearchFilters()),
        lambda: (rng.choice(NOUNS)[:4], SearchFilters()),
        lambda: (rng.choice(NOUNS), SearchFilters(purpose="training", pii="none")),
        lambda: ("", SearchFilters(entity=rng.choice(ENTITIES))),
        lambda: ("", SearchFilters()),
        lambda: (
            f"{rng.choice(NOUNS)} {rng.choice(WINDOWS)} {rng.choice(ENTITIES)}",
            SearchFilters(),
        ),
    ]
    return [rng.choice(shapes)() for _ in range(count)]


def measure(index: SearchIndex, workload: list[tuple[str, SearchFilters]]) -> list[float]:
    """Milliseconds per query."""
    timings = []
    for text, filters in workload:
        began = time.perf_counter()
        index.search(text, filters, page=1, page_size=20)
        timings.append((time.perf_counter() - began) * 1000)
    return timings


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--features", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument(
        "--target-ms", type=float, default=50.0, help="Exit 1 when p99 is above this."
    )
    args = parser.parse_args()
    features = generate_features(args.features)
    began = time.perf_counter()
    index = SearchIndex(features)
    build = time.perf_counter() - began
    measure(index, queries(200, seed=3))  # warm up
    timings = measure(index, queries(args.queries))
    print(f"features: {len(index):,}  index build: {build:.2f} s  queries: {len(timings):,}")
    print(
        f"p50 {statistics.median(timings):.2f} ms  p99 {percentile(timings, 0.99):.2f} ms  "
        f"max {max(timings):.2f} ms  (target: p99 < {args.target_ms:g} ms)"
    )
    if percentile(timings, 0.99) >= args.target_ms:
        raise SystemExit(f"p99 is above the target of {args.target_ms:g} ms")


if __name__ == "__main__":
    main()
