"""Facts about a feature source that let the join skip work, cached by file fingerprint.

Most sources have one row per key and event time, and many are never created after their
event time; knowing that, the join needs neither a tie-breaking pass nor the knowledge-time
pass. Where some (key, event time) pairs do hold several rows (restatements), the profile keeps
those pairs: the join then orders rows by event time alone, as a plain ASOF join does, and
resolves only the spine rows whose pick fell on such a pair. The answer is kept until a file's
size or mtime changes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from featurestore.errors import RetrievalError
from featurestore.offline.session import duckdb_advice
from featurestore.offline.source import SourceLocation
from featurestore.sql import quote_ident, quote_literal

logger = logging.getLogger(__name__)

CACHE_ENV = "FEATURESTORE_CACHE_DIR"
_FORMAT = 6
TIED_PAIRS_MAX_SHARE = 0.25
"""Above this share of rows in tied (key, event time) pairs, the join breaks ties in its sort
(an ordering on (event, created) packed in one number) instead of resolving them afterwards."""
TIED_PAIRS_MIN = 100_000
"""Tied pairs are kept up to this many whatever the share (a small source's index is cheap)."""
PROFILE_MEMORY_LIMIT = 512 * 2**20
"""DuckDB's memory cap while the tied pairs are grouped (one group per row, nearly): beyond it
the grouping spills to disk, so profiling a source never needs more memory than joining it."""
TIE_KEY = "__fs_tk"
"""Prefix of the join key columns of `SourceProfile.tied_pairs` (then `__fs_event`)."""
PRUNE_BELOW_SHARE = 0.5
"""The join reads only the rows some spine row can see within the ttl when the spine's ttl
windows touch less than this share of the source's (key, time bucket) cells: below it, the
rows it skips pay for the semi join that finds them."""
BACKFILL_LAG_TO_GAP = 0.25
"""A source whose median lag from event to created time exceeds this share of the mean gap
between a key's events counts as backfilled: the rule then changes most answers."""
_memory: dict[str, SourceProfile] = {}


@dataclass(frozen=True)
class SourceProfile:
    """Whether some key has two rows at one event time, whether some row is late, and how
    late rows are against how often a key's events come."""

    event_ties: bool
    late_created: bool
    median_lag_us: float = 0.0
    """Median of created minus event time over the rows that have both."""
    mean_gap_us: float = 0.0
    """Mean time between two events of one key: the event time span over rows per key."""
    rows_per_key: float = 1.0
    """Rows per distinct key (approximate)."""
    rows: int = 0
    """Rows with an event time."""
    single_lag_us: float | None = None
    """The largest lag from event to created time of a row alone at its (key, event time):
    such a row is known from its event time plus this lag on. None when unknown (no created
    time, or tied pairs too many to keep)."""
    tied_pairs: pa.Table | None = field(default=None, compare=False, repr=False)
    """The (key, event time) pairs holding several rows: columns `__fs_tk0..` (join keys in
    order), `__fs_event` (UTC), `__fs_latest` (their latest created time) and, for a single
    Parquet file, `__fs_win` (that row's position in it); None when there are too many (or no
    created time)."""

    def seen_share(self, spine_rows: int, ttl_us: int) -> float:
        """About which share of the (key, ttl-long bucket) cells holding rows that many spine
        rows' ttl windows (two buckets each, at most) can touch; 1 when unknown."""
        if self.rows <= 0 or ttl_us <= 0:
            return 1.0
        keys = self.rows / max(self.rows_per_key, 1e-9)
        span = self.mean_gap_us * self.rows_per_key
        return min(1.0, 2 * spine_rows / max(keys * (span / ttl_us + 1), 1.0))

    @property
    def backfilled(self) -> bool:
        """Whether rows typically became known long after the next event of their key (as in
        one backfill load), so the rule changes most answers of a plain join."""
        return self.late_created and self.median_lag_us > BACKFILL_LAG_TO_GAP * self.mean_gap_us


def profile_source(
    con: duckdb.DuckDBPyConnection,
    location: SourceLocation,
    keys: tuple[str, ...],
    event_sql: str,
    created_sql: str | None,
) -> SourceProfile:
    """The profile of the rows at `location`, from the cache when its files are unchanged."""
    table = location.sql
    fingerprint = _fingerprint(location, keys, event_sql, created_sql)
    if fingerprint is not None:
        cached = _memory.get(fingerprint) or _read_disk(fingerprint)
        if cached is not None:
            _memory[fingerprint] = cached
            return cached
    late = f"coalesce(bool_or({created_sql} > {event_sql}), false)" if created_sql else "false"
    lag = (
        f"approx_quantile(epoch_us({created_sql}) - epoch_us({event_sql}), 0.5)"
        if created_sql
        else "0"
    )
    distinct_keys = (
        f"approx_count_distinct(hash({', '.join(quote_ident(k) for k in keys)}))" if keys else "1"
    )
    span = f"epoch_us(max({event_sql})) - epoch_us(min({event_sql}))"
    present = f"WHERE {event_sql} IS NOT NULL"
    max_lag = (
        f"max(epoch_us({created_sql}) - epoch_us({event_sql}))::DOUBLE" if created_sql else "NULL"
    )
    summary = (
        f"SELECT {late}, coalesce({lag}, 0)::DOUBLE, count(*), {distinct_keys}, "
        f"coalesce({span}, 0)::DOUBLE, {max_lag} FROM {table} {present}"
    )
    try:
        late_created, median_lag, count, key_count, event_span, single_lag = con.sql(
            summary
        ).fetchall()[0]
        with _memory_at_most(con, PROFILE_MEMORY_LIMIT):
            ties = _tied_pairs(
                con, location, keys, event_sql, created_sql, limit=tied_pairs_limit(int(count))
            )
        if ties is None:
            single_lag = None
        elif ties.num_rows > 0:
            single_lag = _single_lag(con, table, keys, event_sql, created_sql, ties)
    except duckdb.Error as exc:
        advice = duckdb_advice(exc)
        raise RetrievalError(f"Cannot profile the feature source `{table}`: {advice}") from exc
    profile = SourceProfile(
        event_ties=ties.num_rows > 0 if ties is not None else created_sql is not None,
        late_created=bool(late_created),
        median_lag_us=float(median_lag),
        mean_gap_us=float(event_span) * max(int(key_count), 1) / max(int(count), 1),
        rows_per_key=max(int(count), 1) / max(int(key_count), 1),
        rows=int(count),
        single_lag_us=None if single_lag is None else float(single_lag),
        tied_pairs=ties,
    )
    if fingerprint is not None:
        _memory[fingerprint] = profile
        _write_disk(fingerprint, profile)
    return profile


@contextlib.contextmanager
def _memory_at_most(con: duckdb.DuckDBPyConnection, limit_bytes: int) -> Iterator[None]:
    """DuckDB's memory_limit lowered to `limit_bytes` (if higher) for the duration."""
    current = con.sql("SELECT value FROM duckdb_settings() WHERE name = 'memory_limit'").fetchall()[
        0
    ][0]
    if _bytes(str(current)) <= limit_bytes:
        yield
        return
    con.execute(f"SET memory_limit = '{limit_bytes}B'")
    try:
        yield
    finally:
        con.execute("SET memory_limit = ?", [str(current)])


def _bytes(setting: str) -> float:
    """A DuckDB size setting such as `18.3 GiB` in bytes (infinite if unreadable)."""
    units = {"bytes": 1, "B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}
    number, _, unit = setting.strip().partition(" ")
    try:
        return float(number) * units[unit or "B"]
    except (ValueError, KeyError):
        return float("inf")


def tied_pairs_limit(rows: int) -> int:
    """How many tied (key, event time) pairs a source of `rows` rows may keep."""
    return max(int(rows * TIED_PAIRS_MAX_SHARE), TIED_PAIRS_MIN)


def _tied_pairs(
    con: duckdb.DuckDBPyConnection,
    location: SourceLocation,
    keys: tuple[str, ...],
    event_sql: str,
    created_sql: str | None,
    limit: int,
) -> pa.Table | None:
    """The (key, event time) pairs holding more than one row, with the latest created time of
    each (`__fs_latest`) and, for a file read by row position, that row's position
    (`__fs_win`); None if there are more than `limit` pairs (the join then breaks ties in its
    sort) or no created time."""
    if created_sql is None:
        return None
    table = location.sql
    columns = [f"{quote_ident(key)} AS {TIE_KEY}{j}" for j, key in enumerate(keys)]
    columns.append(f"{event_sql} AS __fs_event")
    group = ", ".join(str(j + 1) for j in range(len(columns)))
    columns.append(f"max({created_sql}) AS __fs_latest")
    path = location.positional_file
    if path is not None and "file_row_number" not in pq.read_schema(path).names:
        # The winner is the latest created; a missing created time loses every tie.
        order = f"coalesce(epoch_us({created_sql}), -9223372036854775808)"
        columns.append(f"arg_max(file_row_number, {order}) AS __fs_win")
        table = f"read_parquet({quote_literal(path)}, file_row_number = true)"
    # GROUP BY rather than count(DISTINCT …): DuckDB's grouped aggregate spills to disk under a
    # memory limit, where the distinct count failed with an out-of-memory error.
    sql = (
        f"SELECT {', '.join(columns)} FROM {table} WHERE {event_sql} IS NOT NULL "
        f"GROUP BY {group} HAVING count(*) > 1 LIMIT {limit + 1}"
    )
    pairs = con.sql(sql).to_arrow_table()
    return None if pairs.num_rows > limit else pairs


def _single_lag(
    con: duckdb.DuckDBPyConnection,
    table: str,
    keys: tuple[str, ...],
    event_sql: str,
    created_sql: str | None,
    ties: pa.Table,
) -> float | None:
    """The largest lag from event to created time over the rows outside the tied pairs."""
    name = f"__featurestore_profile_ties_{os.getpid()}_{id(ties)}"
    con.register(name, ties)
    try:
        matches = [f"r.{quote_ident(key)} = t.{TIE_KEY}{j}" for j, key in enumerate(keys)]
        matches.append(f"{event_sql} = t.__fs_event")
        sql = (
            f"SELECT max(epoch_us({created_sql}) - epoch_us({event_sql}))::DOUBLE "
            f"FROM (SELECT * FROM {table} WHERE {event_sql} IS NOT NULL) AS r "
            f"ANTI JOIN {name} AS t ON {' AND '.join(matches)}"
        )
        value = con.sql(sql).fetchall()[0][0]
    finally:
        con.unregister(name)
    return None if value is None else float(value)


def _fingerprint(
    location: SourceLocation, keys: tuple[str, ...], event_sql: str, created_sql: str | None
) -> str | None:
    """A hash of the query shape and the location's files; None if the location is not made
    of local files (then nothing is cached)."""
    files = location.fingerprint()
    if files is None:
        return None
    parts = [_FORMAT, files, keys, event_sql, created_sql]
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def _cache_dir() -> Path:
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "featurestore" / "source-profiles"


def _read_disk(fingerprint: str) -> SourceProfile | None:
    path = _cache_dir() / f"{fingerprint}.json"
    try:
        fields = json.loads(path.read_text())
        if fields.pop("has_tied_pairs"):
            fields["tied_pairs"] = pq.read_table(path.with_suffix(".ties.parquet"))
        return SourceProfile(**fields)
    except (OSError, ValueError, TypeError, KeyError, pa.ArrowException):
        return None


def _write_disk(fingerprint: str, profile: SourceProfile) -> None:
    directory = _cache_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fields = {
            "event_ties": profile.event_ties,
            "late_created": profile.late_created,
            "median_lag_us": profile.median_lag_us,
            "mean_gap_us": profile.mean_gap_us,
            "rows_per_key": profile.rows_per_key,
            "rows": profile.rows,
            "single_lag_us": profile.single_lag_us,
            "has_tied_pairs": profile.tied_pairs is not None,
        }
        if profile.tied_pairs is not None:
            # Written first: a profile on disk always finds its pairs.
            ties = directory / f".{fingerprint}.ties.partial"
            pq.write_table(profile.tied_pairs, ties)
            ties.replace(directory / f"{fingerprint}.ties.parquet")
        partial = directory / f".{fingerprint}.partial"
        partial.write_text(json.dumps(fields))
        partial.replace(directory / f"{fingerprint}.json")
    except (OSError, pa.ArrowException) as exc:  # a read-only home only costs a scan next time
        logger.debug("cannot cache source profile in %s: %s", directory, exc)
