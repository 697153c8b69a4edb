"""The SQL behind the point-in-time join: one CTE chain per view, chained `ASOF LEFT JOIN`s."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from featurestore.sql import quote_ident

if TYPE_CHECKING:
    from featurestore.offline.gather import ParquetRows
    from featurestore.offline.source import ViewSource

_SPINE_ROW = "__fs_row"
_SPINE_TIME = "__fs_t"
_SPINE = "__fs_s"
_SPINE_ORDER = "__fs_t_order"
SPINE = _SPINE
"""The alias of the spine (or of the spine rows a second pass refines) in every query."""
SPINE_TIME = _SPINE_TIME
SPINE_TIME_OUTPUT = "__fs_t_out"
"""The output column holding each spine row's time as UTC, when some view is refined."""


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


def event_created_order_sql(event_sql: str, created_sql: str | None) -> str:
    """(event, created) packed into one HUGEINT that orders rows by event time, then created
    time; a missing created time packs below every real one, so it loses every tie."""
    order = f"(epoch_us({event_sql})::HUGEINT << 64)"
    if created_sql is None:
        return order
    return f"{order} + coalesce(epoch_us({created_sql}), -9223372036854775808)::HUGEINT"


@dataclass(frozen=True)
class ViewPlan:
    """How one feature view enters the query: its CTEs, its ASOF joins and its output columns."""

    view: ViewSource
    index: int
    key_positions: tuple[int, ...]
    event_sql: str
    created_sql: str | None
    as_known_at: bool
    event_ties: bool = True
    """Whether some key has several rows at one event time (then the latest created wins)."""
    late_created: bool = True
    """Whether some row was created after its event time (else the knowledge rule is moot)."""
    with_feature_times: bool = False
    """Whether to output the chosen row's event and created time (for leakage checks)."""
    backfilled: bool = False
    rows_per_key: float = 1.0
    """Rows per distinct key in the source (from its profile)."""
    """Whether most rows were created long after their event (one backfill load): then the
    rule changes most answers, and one window over every row is cheaper than refining."""
    single_lag_us: float | None = None
    """The largest lag from event to created time of a row alone at its (key, event time)
    (from the profile), if known."""
    prune: bool = False
    """Whether the join reads only the rows some spine row can see within the ttl (see
    `pruning_ctes`): worth it when the spine's ttl windows cover a small part of the source."""
    seen_rows: str | None = None
    """A registered relation of the rows some spine row can see (`seen_rows_sql`), when the
    join and the second pass read them from memory instead of the source."""
    late: ParquetRows | None = None
    """The file the features are read from by row position after the join, if any: the join
    then carries only the chosen row's position instead of its features."""
    ties: str | None = None
    """A relation of the source's (key, event time) pairs that hold several rows (columns
    `__fs_tk0..`, `__fs_event`, `__fs_latest`, maybe `__fs_win`), when the profile knows them:
    the join then orders rows by event time alone, as a plain ASOF join does."""
    tie_winners: bool = False
    """Whether `ties` holds each pair's winning row position in `late` (`__fs_win`)."""

    @property
    def knowledge_rule(self) -> bool:
        """Whether the created-time rule changes anything (and so what it changes is counted)."""
        return self.as_known_at and self.created_sql is not None and self.late_created

    @property
    def refines(self) -> bool:
        """Whether the rule is applied after a plain ASOF join, to the rows whose pick was
        created after the entity time only (see featurestore.offline.refine)."""
        return self.knowledge_rule and not self.backfilled

    @property
    def windowed(self) -> bool:
        """Whether the rule is applied by one window over every row, in the join itself."""
        return self.knowledge_rule and self.backfilled

    @property
    def fixes_ties(self) -> bool:
        """Whether event-time ties are resolved after the join (which then orders rows by event
        time alone, as a plain ASOF join does) for the spine rows whose pick has a tie."""
        return (
            self.ties is not None
            and self.created_sql is not None
            and self.event_ties
            and not self.windowed
        )

    @property
    def winners_in_join(self) -> bool:
        """Whether a pick with a tie is replaced in the join itself by its pair's winner (the
        latest created row, whose position the profile knows)."""
        return self.fixes_ties and self.tie_winners and self.late is not None

    @property
    def second_pass(self) -> bool:
        """Whether some spine rows are resolved again after the join (featurestore.offline.
        refine): those whose pick was created after their time, or has an event-time tie the
        join did not resolve."""
        return self.refines or (self.fixes_ties and not self.winners_in_join)

    @property
    def lean(self) -> bool:
        """Whether the second pass resolves only picks created after the entity time (ties are
        resolved in the join, or by its order) and no one asks for the chosen rows' times: the
        join then outputs each pick and one flag (open, which is also hidden), and nothing
        else, since every extra output column costs in its final sort."""
        return (
            self.refines
            and not self.with_feature_times
            and not (self.fixes_ties and not self.winners_in_join)
        )

    @property
    def flags_by_lag(self) -> bool:
        """Whether a lean join flags its picks without their created time: a pick alone at
        its event time may have been created after `t` only if its event time is within the
        largest such lag of `t`, and a tied pick's winner has its created time in `ties`. The
        flag may then be raised for a pick known at `t`: the second pass resolves it to
        itself, and counts it hidden only if its answer is another row."""
        return (
            self.lean
            and self.late is not None
            and self.single_lag_us is not None
            and (self.winners_in_join or not self.event_ties)
        )

    @property
    def open_column(self) -> str:
        """The query column flagging the spine rows the second pass resolves."""
        if self.lean:
            return self.hidden_column
        return f"__fs_v{self.index}_open"

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

    @property
    def position_column(self) -> str:
        """The query column holding the chosen row's position in `late` (null past the ttl)."""
        return f"__fs_v{self.index}_pos"

    @property
    def value_columns(self) -> list[str]:
        """The query columns holding the chosen row's features, or its position in `late`."""
        if self.late is not None:
            return [self.position_column]
        return [self.output_column(j) for j in range(len(self.view.features))]

    def output_column(self, position: int) -> str:
        """The query column holding the view's feature at `position`."""
        return f"__fs_v{self.index}_out{position}"

    def _name(self, suffix: str) -> str:
        return f"__fs_v{self.index}_{suffix}"

    def _keys(self, *extra: str) -> str:
        columns = [f"__fs_k{position}" for position in self.key_positions] + list(extra)
        return f"PARTITION BY {', '.join(columns)} " if columns else ""

    def ctes(self) -> list[str]:
        """The named subqueries preparing this view's rows for the ASOF join.

        Each is referenced once, so DuckDB inlines it and reads only the Parquet columns it
        needs (a CTE referenced twice would be materialised whole)."""
        wide = self._rows(with_features=True, with_created=self._created_in_join)
        if self.seen_rows is not None:
            columns = [f"__fs_k{position}" for position in self.key_positions]
            columns += ["__fs_pos", "__fs_event"]
            if self._created_in_join:
                columns.append("__fs_created")
            wide = f"SELECT {', '.join(columns)} FROM {self.seen_rows}"
            return [f"{self._name('latest')} AS ({self._latest(wide)})"]
        if not self.windowed:
            if self.pruned:
                wide = self._rows(
                    with_features=True, with_created=self._created_in_join, seen=self._name("b")
                )
            return [f"{self._name('latest')} AS ({self._latest(wide)})"]
        narrow = self._rows(with_features=False)
        return [
            f"{self._name('known')} AS ({self.known(wide)})",
            f"{self._name('latest')} AS ({self._latest(narrow)})",
        ]

    def rows(self) -> str:
        """This view's rows, with features (or row positions), event and created time."""
        return self._rows(with_features=True)

    @property
    def _bucket_us(self) -> int | None:
        ttl = self.view.ttl
        if ttl is None or ttl <= timedelta(0):
            return None
        return max(ttl // timedelta(microseconds=1), 1)

    @property
    def pruned(self) -> bool:
        """Whether the join reads only the rows that some spine row can see within the ttl:
        a plain ASOF pick older than the ttl is nulled anyway, so dropping a row no spine row
        sees changes no answer (the window method, which ranks every row, keeps them all)."""
        return self.prune and not self.windowed and self._bucket_us is not None

    @property
    def shares_seen_rows(self) -> bool:
        """Whether the rows some spine row can see are read once into memory for both the
        join and the second pass (which, under a ttl, needs no other row)."""
        return self.pruned and self.lean and self.late is not None

    def seen_rows_sql(self, spine_relation: str, spine_time_sql: str, spine_keys: list[str]) -> str:
        """The rows some spine row can see, with keys, position, event and created time."""
        ctes = self.pruning_ctes(spine_relation, spine_time_sql, spine_keys)
        rows = self._rows(with_features=True, with_created=True, seen=self._name("b"))
        return f"WITH {', '.join(ctes)} {rows}"

    def pruning_ctes(
        self, spine_relation: str, spine_time_sql: str, spine_keys: list[str]
    ) -> list[str]:
        """The (key, ttl-long time bucket) pairs that the spine rows' ttl windows touch: a row
        whose (key, bucket of its event time) is not among them is seen by no spine row."""
        width = self._bucket_us
        if not self.pruned or width is None or self.seen_rows is not None:
            return []
        keys = [
            f"{quote_ident(spine_keys[position])} AS __fs_k{position}"
            for position in self.key_positions
        ]
        # Any monotonic bucketing works: every event time in [t - ttl, t] falls in a bucket
        # between those of its ends (two buckets per spine row).
        time = f"epoch_us({spine_time_sql})"
        buckets = f"unnest(range(({time} - {width}) // {width}, {time} // {width} + 1)) AS __fs_bk"
        # Not made distinct: the semi join's hash table takes the repeats for less than a
        # grouping would cost.
        return [
            f"{self._name('b')} AS (SELECT {', '.join([*keys, buckets])} "
            f"FROM {quote_ident(spine_relation)} WHERE {spine_time_sql} IS NOT NULL)"
        ]

    @property
    def _created_in_join(self) -> bool:
        """Whether the join needs the rows' created time (not when ties are resolved by known
        winners and neither the rule nor the caller asks for it)."""
        return (
            self.packed
            or (self.second_pass and not self.flags_by_lag)
            or self.windowed
            or self.with_feature_times
        )

    def _rows(
        self, *, with_features: bool, with_created: bool = True, seen: str | None = None
    ) -> str:
        view = self.view
        columns = [
            f"{quote_ident(key)} AS __fs_k{position}"
            for key, position in zip(view.join_keys, self.key_positions, strict=True)
        ]
        if with_features and self.late is not None:
            columns.append(f"{self.late.position_sql} AS __fs_pos")
        elif with_features:
            columns += [f"{quote_ident(f)} AS __fs_f{j}" for j, f in enumerate(view.features)]
        columns.append(f"{self.event_sql} AS __fs_event")
        if self.created_sql is not None and with_created:
            columns.append(f"{self.created_sql} AS __fs_created")
        table = view.table if self.late is None else self.late.positional_table
        if seen is not None:
            # Only rows whose (key, bucket of event time) some spine row's ttl window touches.
            matches = [
                f"__fs_src.{quote_ident(key)} = __fs_seen.__fs_k{position}"
                for key, position in zip(view.join_keys, self.key_positions, strict=True)
            ]
            matches.append(f"epoch_us({self.event_sql}) // {self._bucket_us} = __fs_seen.__fs_bk")
            table = f"{table} AS __fs_src SEMI JOIN {seen} AS __fs_seen ON {' AND '.join(matches)}"
        return f"SELECT {', '.join(columns)} FROM {table} WHERE {self.event_sql} IS NOT NULL"

    @property
    def packed(self) -> bool:
        """Whether the plain ASOF join orders rows by (event, created) packed into one number
        (some key has several rows at one event time, and the latest created must win)."""
        return self.created_sql is not None and self.event_ties and not self.fixes_ties

    def _latest(self, rows: str) -> str:
        """Rows visible from their event time on, with their (event, created) order if packed:
        an ASOF join on it picks the latest created of the rows at the last event time, with no
        pass over the rows to drop the others first."""
        if not self.packed:
            return rows
        order = event_created_order_sql("__fs_event", "__fs_created")
        return f"SELECT *, {order} AS __fs_order FROM ({rows})"

    def known(self, rows: str) -> str:
        """Rows that win from the moment they become known until a better row is known."""
        # A row is known from greatest(event, created) on. It can be the answer only while no
        # row known no later than it has a larger (event, created); keep those rows, and ASOF on
        # known time then picks the last one kept, which is the arg-max over all known rows.
        # Peers (same known time) are ordered best first, so a ROWS frame keeps only the best.
        # Without event-time ties the event time alone orders rows.
        order = (
            event_created_order_sql("__fs_event", "__fs_created")
            if self.event_ties
            else "epoch_us(__fs_event)"
        )
        return (
            "SELECT * FROM (SELECT *, "
            "greatest(__fs_event, coalesce(__fs_created, __fs_event)) AS __fs_known, "
            f"{order} AS __fs_order FROM ({rows})) QUALIFY __fs_order = "
            f"max(__fs_order) OVER ({self._keys()}ORDER BY __fs_known, __fs_order DESC "
            "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
        )

    def joins(self) -> list[str]:
        """The ASOF joins that attach this view's chosen row (and unruled row) to spine rows."""
        latest = self._name("latest")
        if not self.windowed:
            joins = [self._plain_asof(latest, self._name("j"))]
            if self.fixes_ties:
                # Marks the picks whose (key, event time) holds other rows (distinct pairs, so
                # each spine row stays one row).
                alias, tied = self._name("j"), self._name("tie")
                matches = [
                    f"{tied}.__fs_tk{j} = {alias}.__fs_k{position}"
                    for j, position in enumerate(self.key_positions)
                ]
                matches.append(f"{tied}.__fs_event = {alias}.__fs_event")
                joins.append(f"LEFT JOIN {self.ties} AS {tied} ON {' AND '.join(matches)}")
            return joins
        return [
            self._asof(self._name("known"), self._name("j"), _SPINE_TIME, "__fs_known"),
            self._plain_asof(latest, self._name("u")),
        ]

    def _plain_asof(self, cte: str, alias: str) -> str:
        if self.packed:
            return self._asof(cte, alias, _SPINE_ORDER, "__fs_order")
        return self._asof(cte, alias, _SPINE_TIME, "__fs_event")

    def key_matches(self, left: str, right: str) -> list[str]:
        """SQL conditions matching this view's keys between relations `left` and `right`."""
        return [
            f"{left}.__fs_k{position} = {right}.__fs_k{position}" for position in self.key_positions
        ]

    def _asof(self, cte: str, alias: str, spine_column: str, visible_column: str) -> str:
        conditions = self.key_matches(_SPINE, alias)
        conditions.append(f"{_SPINE}.{spine_column} >= {alias}.{visible_column}")
        return f"ASOF LEFT JOIN {cte} AS {alias} ON {' AND '.join(conditions)}"

    def select_items(self) -> list[str]:
        """The output columns: each feature, then the hidden-row flag when it is counted."""
        alias = self._name("j")
        tie = self._name("tie")
        tied = f"{tie}.__fs_event IS NOT NULL"
        position, event, created = (
            f"{alias}.{c}" for c in ("__fs_pos", "__fs_event", "__fs_created")
        )
        if self.winners_in_join:
            # The pick's pair holds several rows: the latest created of them wins.
            position = f"CASE WHEN {tied} THEN {tie}.__fs_win ELSE {position} END"
            created = f"CASE WHEN {tied} THEN {tie}.__fs_latest ELSE {created} END"
        if self.late is not None:
            items = [f"{self.fresh([position], alias)[0]} AS {self.position_column}"]
        else:
            chosen = self._values(alias)
            items = [f"{value} AS {self.output_column(j)}" for j, value in enumerate(chosen)]
        if self.with_feature_times or (self.second_pass and not self.lean):
            times = self.fresh([event, created], alias)
            items.append(f"{times[0]} AS {self.event_column}")
            items.append(f"{times[1] if self.created_sql else 'NULL'} AS {self.created_column}")
        late = f"{created} > {_SPINE}.{_SPINE_TIME}"
        if self.flags_by_lag:
            micros = int(self.single_lag_us or 0)
            lag = f"{event} > {_SPINE}.{_SPINE_TIME} - to_microseconds({micros})"
            late = (
                f"CASE WHEN {tied} THEN {tie}.__fs_latest > {_SPINE}.{_SPINE_TIME} ELSE {lag} END"
                if self.fixes_ties
                else lag
            )
        fresh = self.fresh_condition(alias)
        if self.second_pass and not self.lean:
            # The plain pick is the answer unless it was created after the entity time (the
            # rows the rule changes), or another row shares its key and event time (the latest
            # created of them wins): those rows are resolved again by the second pass.
            reasons = ([late] if self.refines else []) + (
                [tied] if self.fixes_ties and not self.winners_in_join else []
            )
            flag = " OR ".join(reasons)
            flag = f"{fresh} AND ({flag})" if fresh else flag
            items.append(f"coalesce({flag}, false) AS {self.open_column}")
        if self.refines:
            # Exact unless the pick has a tie left to the second pass, which corrects those rows.
            flag = f"{fresh} AND {late}" if fresh else late
            items.append(f"coalesce({flag}, false) AS {self.hidden_column}")
        elif self.knowledge_rule:
            # The rule hid a value where the row chosen without it (still within the ttl) is
            # another row than the one chosen with it.
            unruled = self._name("u")
            chosen_id = self.fresh([f"{alias}.__fs_event", f"{alias}.__fs_created"], alias)
            unruled_id = self.fresh([f"{unruled}.__fs_event", f"{unruled}.__fs_created"], unruled)
            changed = " OR ".join(
                f"({mine} IS DISTINCT FROM {other})"
                for mine, other in zip(chosen_id, unruled_id, strict=True)
            )
            items.append(f"({changed}) AS {self.hidden_column}")
        return items

    def _values(self, alias: str) -> list[str]:
        """The feature values from the joined row, nulled when its event time is past the ttl."""
        return self.fresh([f"{alias}.__fs_f{j}" for j in range(len(self.view.features))], alias)

    def fresh_condition(self, alias: str) -> str | None:
        """SQL true when the joined row's event time is within the ttl; None without a ttl."""
        ttl = self.view.ttl
        if ttl is None or ttl == timedelta(0):
            return None
        # The interval is pure microseconds, so subtracting it never crosses a DST calendar rule.
        micros = ttl // timedelta(microseconds=1)
        return f"{alias}.__fs_event >= {_SPINE}.{_SPINE_TIME} - to_microseconds({micros})"

    def fresh(self, values: list[str], alias: str) -> list[str]:
        """`values` of the joined row, nulled when its event time is past the ttl."""
        fresh = self.fresh_condition(alias)
        if fresh is None:
            return values
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
    if any(plan.packed for plan in plans):
        # The largest (event, created) order of any row with event time <= t.
        spine_columns.append(
            f"(epoch_us({spine_time_sql})::HUGEINT << 64) + 9223372036854775807 AS {_SPINE_ORDER}"
        )
    ctes = [f"{_SPINE} AS (SELECT {', '.join(spine_columns)} FROM {quote_ident(spine_relation)})"]
    items = [f"{_SPINE}.{_SPINE_ROW}"]
    if any(plan.second_pass and not plan.lean for plan in plans):
        items.append(f"{_SPINE}.{_SPINE_TIME} AS {SPINE_TIME_OUTPUT}")
    joins = []
    for plan in plans:
        ctes.extend(plan.pruning_ctes(spine_relation, spine_time_sql, spine_keys))
        ctes.extend(plan.ctes())
        items.extend(plan.select_items())
        joins.extend(plan.joins())
    return (
        f"WITH {', '.join(ctes)} SELECT {', '.join(items)} FROM {_SPINE} {' '.join(joins)} "
        f"ORDER BY {_SPINE}.{_SPINE_ROW}"
    )
