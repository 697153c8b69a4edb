"""Ranked free-text search over features, with filters, facets and pagination (pure, in memory).

Each feature is one document. A query token matches a document when a token of one of its
fields equals it or, for query tokens of 3+ characters, starts with it. A document's score
sums, per query token, the weight of the best field it matched times the token's rarity (idf).
Documents must match every query token; when none does, documents matching any token are
returned, ranked the same way.
"""

from __future__ import annotations

import bisect
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain

from featurestore.catalog.entries import FeatureEntry
from featurestore.metadata import RIGHTS_PREFIX, SEMANTIC_KEYS

FACETS = ("kind", "entity", "owner", "pii", "purpose", "tag")
PREFIX_WEIGHT = 0.6
MAX_PREFIX_EXPANSION = 64
MIN_PREFIX = 3
_TOKEN = re.compile(r"[0-9a-z]+")
# Field weights: a hit in a feature's name says more than one in its view's description.
WEIGHTS = {
    "name": 6.0,
    "view": 3.0,
    "description": 3.0,
    "entity": 1.5,
    "tags": 1.5,
    "view_description": 1.5,
    "owner": 1.0,
}


def tokenize(text: str) -> list[str]:
    """Lowercase word tokens with a light plural stemmer (`delays` → `delay`)."""
    return [_stem(token) for token in _TOKEN.findall(text.lower())]


def _stem(token: str) -> str:
    if len(token) > 3 and token.endswith("s") and not token.endswith("ss"):
        return token[:-1]
    return token


@dataclass(frozen=True)
class SearchFilters:
    """Restrict results to features with these properties; None means any."""

    entity: str | None = None
    owner: str | None = None
    tag: str | None = None
    purpose: str | None = None
    pii: str | None = None
    kind: str | None = None

    def facet_values(self) -> list[str]:
        """The filters as `facet=value` keys of the index."""
        pairs = [
            ("entity", self.entity),
            ("owner", self.owner),
            ("purpose", self.purpose),
            ("pii", self.pii),
            ("kind", self.kind),
        ]
        keys = [f"{facet}={value}" for facet, value in pairs if value is not None]
        if self.tag is not None:
            keys.append(f"tag={self.tag}" if "=" in self.tag else f"tagkey={self.tag}")
        return keys


@dataclass(frozen=True)
class SearchHit:
    """One matching feature and its score."""

    feature: FeatureEntry
    score: float


@dataclass(frozen=True)
class SearchResult:
    """A page of hits, the total count and facet counts over every match."""

    total: int
    page: int
    page_size: int
    hits: list[SearchHit]
    facets: Mapping[str, list[tuple[str, int]]] = field(default_factory=dict)


class SearchIndex:
    """An inverted index over feature documents."""

    def __init__(self, features: Iterable[FeatureEntry]) -> None:
        self._docs: list[FeatureEntry] = sorted(features, key=lambda f: f.ref)
        self._postings: dict[str, dict[int, float]] = {}
        self._facet_keys: list[tuple[str, ...]] = []
        self._by_facet: dict[str, set[int]] = {}
        for doc_id, feature in enumerate(self._docs):
            for name, text in _fields(feature):
                weight = WEIGHTS[name]
                for token in tokenize(text):
                    posting = self._postings.setdefault(token, {})
                    if posting.get(doc_id, 0.0) < weight:
                        posting[doc_id] = weight
            keys = tuple(_facet_keys(feature))
            self._facet_keys.append(keys)
            for key in keys:
                self._by_facet.setdefault(key, set()).add(doc_id)
        self._vocabulary = sorted(self._postings)
        self._idf = {
            token: math.log(1 + len(self._docs) / len(posting))
            for token, posting in self._postings.items()
        }

    def __len__(self) -> int:
        return len(self._docs)

    def search(
        self,
        query: str = "",
        filters: SearchFilters | None = None,
        *,
        page: int = 1,
        page_size: int = 20,
    ) -> SearchResult:
        """The `page`-th page of features matching `query` and `filters`, best first."""
        allowed = self._filtered(filters or SearchFilters())
        tokens = list(dict.fromkeys(tokenize(query)))
        if tokens:
            scores = self._scores(tokens, allowed)
            ranked = sorted(scores, key=lambda doc: (-scores[doc], doc))
        else:
            scores = {}
            ranked = sorted(allowed) if allowed is not None else list(range(len(self._docs)))
        start = (page - 1) * page_size
        hits = [
            SearchHit(self._docs[doc], round(scores.get(doc, 0.0), 4))
            for doc in ranked[start : start + page_size]
        ]
        return SearchResult(len(ranked), page, page_size, hits, self._facets(ranked))

    def _filtered(self, filters: SearchFilters) -> set[int] | None:
        keys = filters.facet_values()
        if not keys:
            return None
        sets = sorted((self._by_facet.get(key, set()) for key in keys), key=len)
        return set(sets[0]).intersection(*sets[1:])

    def _scores(self, tokens: Sequence[str], allowed: set[int] | None) -> dict[int, float]:
        per_token = [self._token_scores(token, allowed) for token in tokens]
        every = set(per_token[0]).intersection(*per_token[1:])
        docs = every or set().union(*per_token)
        return {doc: sum(scores.get(doc, 0.0) for scores in per_token) for doc in docs}

    def _token_scores(self, token: str, allowed: set[int] | None) -> dict[int, float]:
        scores: dict[int, float] = {}
        for candidate, factor in self._expansions(token):
            for doc, weight in self._postings[candidate].items():
                score = weight * factor
                if scores.get(doc, 0.0) < score and (allowed is None or doc in allowed):
                    scores[doc] = score
        return scores

    def _expansions(self, token: str) -> list[tuple[str, float]]:
        """Vocabulary tokens `token` matches (itself; words it starts when long enough)."""
        if len(token) < MIN_PREFIX:
            return [(token, self._idf[token])] if token in self._idf else []
        start = bisect.bisect_left(self._vocabulary, token)
        matches = []
        for candidate in self._vocabulary[start : start + MAX_PREFIX_EXPANSION]:
            if not candidate.startswith(token):
                break
            weight = 1.0 if candidate == token else PREFIX_WEIGHT
            matches.append((candidate, self._idf[candidate] * weight))
        return matches

    def _facets(self, docs: Sequence[int]) -> dict[str, list[tuple[str, int]]]:
        counts = Counter(chain.from_iterable(self._facet_keys[doc] for doc in docs))
        facets: dict[str, list[tuple[str, int]]] = {name: [] for name in FACETS}
        for key, count in counts.items():
            name, _, value = key.partition("=")
            if name in facets:
                facets[name].append((value, count))
        return {
            name: sorted(values, key=lambda v: (-v[1], v[0])) for name, values in facets.items()
        }


def _fields(feature: FeatureEntry) -> list[tuple[str, str]]:
    tags = {**feature.view_tags, **feature.tags}
    tag_text = " ".join(
        f"{key} {value}"
        for key, value in tags.items()
        if not key.startswith(RIGHTS_PREFIX) and key not in {"min", "max", "nullable"}
    )
    if feature.semantics is not None and feature.semantics.unit:
        tag_text += f" {feature.semantics.unit}"
    return [
        ("name", feature.name),
        ("view", feature.view),
        ("description", feature.description),
        ("view_description", feature.view_description),
        ("entity", " ".join(feature.entities)),
        ("tags", tag_text),
        ("owner", feature.owner),
    ]


def _facet_keys(feature: FeatureEntry) -> list[str]:
    keys = [f"kind={feature.view_kind}", f"owner={feature.owner}"]
    keys.extend(f"entity={entity}" for entity in feature.entities)
    terms = feature.rights.terms
    if terms is not None:
        keys.append(f"pii={terms.pii}")
        keys.extend(f"purpose={purpose}" for purpose in terms.purposes)
    for key, value in {**feature.view_tags, **feature.tags}.items():
        if key.startswith(RIGHTS_PREFIX) or key in SEMANTIC_KEYS:
            continue
        keys.extend((f"tag={key}={value}", f"tagkey={key}"))
    if feature.semantics is not None and feature.semantics.unit:
        keys.extend((f"tag=unit={feature.semantics.unit}", "tagkey=unit"))
    return keys
