"""Examples for error messages and placeholders, taken from the user's own registry.

A message that says "send JSON like …" names the repo's first feature service and entity, not
the bundled example; with nothing registered it falls back to neutral placeholders.
"""

from __future__ import annotations

import json
import logging

from feast import FeatureStore

from featurestore.registry import Registry

logger = logging.getLogger(__name__)

NEUTRAL_REQUEST = '{"feature_service": "<service>", "entities": {"<join key>": ["<value>"]}}'
NEUTRAL_REFS = "<view>:<feature>"


def example_request(store: FeatureStore) -> str:
    """An online features request naming the first registered service and its entity's key."""
    try:
        services = sorted(store.list_feature_services(), key=lambda s: s.name)
        if not services:
            return NEUTRAL_REQUEST
        service = services[0]
        view_name = service.feature_view_projections[0].name
        view = Registry(store).feature_view(view_name)
        join_keys = list(view.join_keys or ["<join key>"])
        body = {"feature_service": service.name, "entities": {join_keys[0]: ["<value>"]}}
        return json.dumps(body)
    except Exception:  # an example must never turn one error into another
        logger.debug("no example request from the registry", exc_info=True)
        return NEUTRAL_REQUEST


def example_refs(store: FeatureStore, count: int = 2) -> str:
    """Up to `count` registered `view:feature` refs, space-separated."""
    try:
        views = sorted(Registry(store).views(), key=lambda v: v.name)
        refs = [ref for view in views for ref in view.refs]
        return " ".join(refs[:count]) or NEUTRAL_REFS
    except Exception:
        logger.debug("no example refs from the registry", exc_info=True)
        return NEUTRAL_REFS
