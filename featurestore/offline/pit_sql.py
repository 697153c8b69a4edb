"""The SQL behind the point-in-time join: one CTE chain per view, chained `ASOF LEFT JOIN`s."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from featurestore.sql import quote_ident

if TYPE_CHECKING:
    from featurestore.offline.pit import ViewSource

_SPINE_ROW = "__fs_row"
_SPINE_TIME = "__fs_t"
_SPINE = "__fs_s"
_RUNNING_FRAME = "RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"


def utc_timestamp_sql(expression: str, duckdb_type: str) -> str | None:
    """SQL turning a timestamp or date column into TIMESTAMPTZ (naive values read as UTC)."""
    kind = duckdb_type.upper()
    if kind in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
        return expression
    if kind == "TIMESTAMPTZ_NS":
        return f"CAST({expression} AS TIMESTAMPTZ)"
    if kind in ("TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S", "DATE"):
        # A plain CAST to TIMESTAMPTZ would read the value in the session's TimeZone setting.
        return f"timezone('UTC', CAST({expression} AS TIMESTAMP))"
    return None


@dataclass(frozen=True)
class ViewPlan:
    """How one feature view enters the query: its CTEs, its ASOF joins and its output columns."""

    view: ViewSource
    index: int
    key_positions: tuple[int, ...]
    event_sql: str
    created_sql: str | None
    as_known_at: bool

    @property
    def knowledge_rule(self) -> bool:
        """Whether the created-time rule applies (and so the rows it changes are counted)."""
        return self.as_known_at and self.created_sql is not None

    @property
    def hidden_column(self) -> str:
        """The query column flagging spine rows whose values the created-time rule changed."""
        return f"__fs_v{self.index}_hidden"

    @property
    def event_column(self) -> str:
        """The query column holding the chosen row's event time (null past the ttl)."""
        return f"__fs_v{self.index}_event_out"

    @property
    def created_column(self) -> str:
        """The query column holding the chosen row's created time (null past the ttl)."""
        return f"__fs_v{self.index}_created_out"

    def output_column(self, position: int) -> str:
        """The query column holding the view's feature at `position`."""
        return f"__fs_v{self.index}_out{position}"

    def _name(self, suffix: str) -> str:
        return f"__fs_v{self.index}_{suffix}"

    def _keys(self, *extra: str) -> str:
        columns = [f"__fs_k{position}" for position in self.key_positions] + list(extra)
        return f"PARTITION BY {', '.join(columns)} " if columns else ""

    def ctes(self) -> list[str]:
        """The named subqueries preparing this view's rows for the ASOF join."""
        view = self.view
        columns = [
            *(
                f"{quote_ident(key)} AS __fs_k{position}"
                for key, position in zip(view.join_keys, self.key_positions, strict=True)
            ),
            *(f"{quote_ident(feature)} AS __fs_f{j}" for j, feature in enumerate(view.features)),
            f"{self.event_sql} AS __fs_event",
        ]
        if self.created_sql is not None:
            columns.append(f"{self.created_sql} AS __fs_created")
        rows = self._name("rows")
        # Without the created-time rule a row is visible from its event time on, and among rows
        # with the same key and event time only the latest created one can win.
        dedupe = (
            f" QUALIFY row_number() OVER ({self._keys('__fs_event')}"
            "ORDER BY __fs_created DESC NULLS LAST) = 1"
            if self.created_sql is not None
            else ""
        )
        ctes = [
            f"{rows} AS (SELECT {', '.join(columns)} FROM {view.table} "
            f"WHERE {self.event_sql} IS NOT NULL)",
            f"{self._name('latest')} AS (SELECT * FROM {rows}{dedupe})",
        ]
        if self.knowledge_rule:
            ctes.append(self._known_cte(rows))
        return ctes

    def _known_cte(self, rows: str) -> str:
        """Rows that win from the moment they become known until a better row is known."""
        # A row is known from greatest(event, created) on. It can be the answer only while no
        # row known no later than it has a larger (event, created); keep those rows, and ASOF on
        # known time then picks the last one kept, which is the arg-max over all known rows.
        # (event, created) is packed into one HUGEINT so the running max costs a single sort;
        # a missing created time packs below every real one and so loses ties.
        order = (
            "(epoch_us(__fs_event)::HUGEINT << 64) + "
            "coalesce(epoch_us(__fs_created), -9223372036854775808)::HUGEINT"
        )
        return (
            f"{self._name('known')} AS (SELECT * FROM (SELECT *, "
            "greatest(__fs_event, coalesce(__fs_created, __fs_event)) AS __fs_known, "
            f"{order} AS __fs_order FROM {rows}) QUALIFY __fs_order = "
            f"max(__fs_order) OVER ({self._keys()}ORDER BY __fs_known {_RUNNING_FRAME}))"
        )

    def joins(self) -> list[str]:
        """The ASOF joins that attach this view's chosen row (and unruled row) to spine rows."""
        latest = self._name("latest")
        if not self.knowledge_rule:
            return [self._asof(latest, self._name("j"), "__fs_event")]
        return [
            self._asof(self._name("known"), self._name("j"), "__fs_known"),
            self._asof(latest, self._name("u"), "__fs_event"),
        ]

    def _asof(self, cte: str, alias: str, visible_column: str) -> str:
        conditions = [
            f"{_SPINE}.__fs_k{position} = {alias}.__fs_k{position}"
            for position in self.key_positions
        ]
        conditions.append(f"{_SPINE}.{_SPINE_TIME} >= {alias}.{visible_column}")
        return f"ASOF LEFT JOIN {cte} AS {alias} ON {' AND '.join(conditions)}"

    def select_items(self) -> list[str]:
        """The output columns: each feature, then the hidden-row flag when it is counted."""
        alias = self._name("j")
        chosen = self._values(alias)
        items = [f"{value} AS {self.output_column(j)}" for j, value in enumerate(chosen)]
        times = self._fresh([f"{alias}.__fs_event", f"{alias}.__fs_created"], alias)
        items.append(f"{times[0]} AS {self.event_column}")
        items.append(f"{times[1] if self.created_sql else 'NULL'} AS {self.created_column}")
        if self.knowledge_rule:
            unruled = self._values(self._name("u"))
            changed = " OR ".join(
                f"({value} IS DISTINCT FROM {other})"
                for value, other in zip(chosen, unruled, strict=True)
            )
            items.append(f"{changed or 'FALSE'} AS {self.hidden_column}")
        return items

    def _values(self, alias: str) -> list[str]:
        """The feature values from the joined row, nulled when its event time is past the ttl."""
        return self._fresh([f"{alias}.__fs_f{j}" for j in range(len(self.view.features))], alias)

    def _fresh(self, values: list[str], alias: str) -> list[str]:
        """`values` of the joined row, nulled when its event time is past the ttl."""
        ttl = self.view.ttl
        if ttl is None or ttl == timedelta(0):
            return values
        # The interval is pure microseconds, so subtracting it never crosses a DST calendar rule.
        micros = ttl // timedelta(microseconds=1)
        fresh = f"{alias}.__fs_event >= {_SPINE}.{_SPINE_TIME} - to_microseconds({micros})"
        return [f"CASE WHEN {fresh} THEN {value} END" for value in values]


def point_in_time_sql(
    spine_relation: str, spine_keys: list[str], spine_time_sql: str, plans: list[ViewPlan]
) -> str:
    """One query joining every view to the registered spine, in the spine's row order."""
    # DuckDB documents a window with an empty OVER () as keeping scan order: the row numbers.
    spine_columns = [
        f"row_number() OVER () AS {_SPINE_ROW}",
        *(f"{quote_ident(key)} AS __fs_k{position}" for position, key in enumerate(spine_keys)),
        f"{spine_time_sql} AS {_SPINE_TIME}",
    ]
    ctes = [f"{_SPINE} AS (SELECT {', '.join(spine_columns)} FROM {quote_ident(spine_relation)})"]
    items = [f"{_SPINE}.{_SPINE_ROW}"]
    joins = []
    for plan in plans:
        ctes.extend(plan.ctes())
        items.extend(plan.select_items())
        joins.extend(plan.joins())
    return (
        f"WITH {', '.join(ctes)} SELECT {', '.join(items)} FROM {_SPINE} {' '.join(joins)} "
        f"ORDER BY {_SPINE}.{_SPINE_ROW}"
    )
