"""What the "as known at" rule hid, and a clear warning when it hides most of a view."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from featurestore.offline.pit import PointInTimeResult
from featurestore.offline.source import ViewSource
from featurestore.registry import KNOWLEDGE_TIME_TAG

MOSTLY_HIDDEN = 0.5
"""Share of entity rows above which the rule probably hides a one-load backfill."""


class KnowledgeTimeWarning(UserWarning):
    """The created-time rule hid most values of a view."""


@dataclass(frozen=True)
class KnowledgeTimeReport:
    """Per view: entity rows whose value the rule hid, their share, and warnings to show."""

    hidden: dict[str, int]
    share: dict[str, float]
    warnings: tuple[str, ...]


def knowledge_time_report(
    result: PointInTimeResult, views: Sequence[ViewSource]
) -> KnowledgeTimeReport:
    """Summarise what the rule hid, warning for every view where it hid most rows."""
    rows = max(result.table.num_rows, 1)
    share = {name: count / rows for name, count in result.hidden_by_knowledge_time.items()}
    messages = []
    for view in views:
        if share.get(view.name, 0.0) > MOSTLY_HIDDEN:
            messages.append(
                f"The knowledge-time rule hid values for {share[view.name]:.0%} of the entity rows "
                f"of view `{view.name}`: its rows were created (`{view.created_timestamp_field}`) "
                "after the entity times. If the source was backfilled in one load, tag the data "
                f'source with `{KNOWLEDGE_TIME_TAG}: "ignore"`, or pass `as_known_at=False` for '
                "this retrieval."
            )
    return KnowledgeTimeReport(
        hidden=dict(result.hidden_by_knowledge_time), share=share, warnings=tuple(messages)
    )
