"""Write feature rows into Redis in Feast's format, never over a newer event time.

Rows are encoded column-wise (featurestore.online.encoding), framed as Redis protocol bytes
with numpy too, and sent in batches to a Lua script that, per key, compares the stored
`_ts:<view>` with the row's event time and writes only when the row is not older. A batch runs
atomically, and several batches share a round trip. So no Python object is made per value,
and a stream consumer that got ahead of a materialization keeps its values.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import redis
from feast import FeatureView
from feast.field import Field
from redis.cluster import RedisCluster
from redis.exceptions import NoScriptError

from featurestore.online.binary import Binary, concat_rows, resp_bulk, resp_bulk_constant
from featurestore.online.connection import RedisClient, primaries
from featurestore.online.encoding import (
    EncodingError,
    encode_entity_keys,
    encode_timestamps,
    encode_values,
)
from featurestore.online.errors import redis_errors
from featurestore.online.layout import field_name, timestamp_field
from featurestore.online.routing import (
    REDIRECTED,
    group_by_node,
    refresh_slot_map,
    slot_of,
    unframe,
)

# ARGV: key ttl (0: none), then per key `width` items: `_ts:<view>`, its value, then each
# feature's field and value — the exact HSET arguments, so Lua only slices them.
# Timestamps are serialized protobuf `Timestamp`s: varint fields 1 (seconds) and 2 (nanos).
# Lua numbers are doubles, so a negative (10-byte) varint is rebuilt from its complement.
_WRITE_IF_NOT_OLDER = b"""
local function varint(s, pos)
  local value, scale, count, bytes = 0, 1, 0, {}
  repeat
    local b = string.byte(s, pos)
    pos = pos + 1
    count = count + 1
    bytes[count] = b
    value = value + (b % 128) * scale
    scale = scale * 128
  until b < 128
  if count == 10 then
    local complement, place = 0, 1
    for i = 1, 9 do
      complement = complement + (127 - bytes[i] % 128) * place
      place = place * 128
    end
    value = -(complement + 1)
  end
  return value, pos
end

local function timestamp(s)
  local seconds, nanos, pos = 0, 0, 1
  while pos <= #s do
    local tag = string.byte(s, pos)
    local value
    value, pos = varint(s, pos + 1)
    if tag == 8 then seconds = value elseif tag == 16 then nanos = value end
  end
  return seconds, nanos
end

local ttl = tonumber(ARGV[1])
local width = tonumber(ARGV[2])
local written, skipped = 0, 0
for i = 1, #KEYS do
  local first = 3 + (i - 1) * width
  local old = redis.call('HGET', KEYS[i], ARGV[first])
  local older = false
  if old and old ~= ARGV[first + 1] then
    local old_s, old_n = timestamp(old)
    local new_s, new_n = timestamp(ARGV[first + 1])
    older = old_s > new_s or (old_s == new_s and old_n > new_n)
  end
  if older then
    skipped = skipped + 1
  else
    redis.call('HSET', KEYS[i], unpack(ARGV, first, first + width - 1))
    if ttl > 0 then redis.call('EXPIRE', KEYS[i], ttl) end
    written = written + 1
  end
end
return {written, skipped}
"""
_SCRIPT_SHA = hashlib.sha1(_WRITE_IF_NOT_OLDER).hexdigest().encode()


@dataclass(frozen=True)
class WriteResult:
    """Rows written, and rows left alone because Redis already held a newer event time."""

    written: int
    skipped_older: int

    def __add__(self, other: WriteResult) -> WriteResult:
        return WriteResult(self.written + other.written, self.skipped_older + other.skipped_older)


Command = list[bytes | memoryview]


class OnlineWriter:
    """Writes Arrow tables of one feature view into Redis, as Feast's Redis store would.

    On a Redis Cluster a script may only touch keys of one slot, so rows are sorted by slot, a
    batch holds one slot's rows, and each master gets its batches in its own pipeline, all
    masters at once (one thread each: the sockets wait in parallel).
    """

    def __init__(
        self,
        client: RedisClient,
        project: str,
        *,
        key_ttl_seconds: int | None = None,
        batch_rows: int = 500,
        batches_per_round_trip: int = 16,
        chunk_rows: int = 100_000,
    ) -> None:
        self._client = client
        self._project = project
        self._key_ttl_seconds = key_ttl_seconds or 0
        self._batch_rows = batch_rows
        self._batches_per_round_trip = batches_per_round_trip
        self._chunk_rows = chunk_rows

    def write(
        self,
        view: FeatureView,
        table: pa.Table,
        *,
        event_timestamp_column: str = "event_timestamp",
        progress: Callable[[int], None] | None = None,
    ) -> WriteResult:
        """Write each row's features unless Redis holds a newer event time for its key."""
        keys = set(view.join_keys)  # a stream feature view lists them among its features
        features = [f for f in view.features if f.name in table.column_names and f.name not in keys]
        _check_columns(view, table, features, event_timestamp_column)
        total = WriteResult(0, 0)
        with redis_errors(f"write feature view {view.name}"):
            for node in primaries(self._client):
                node.script_load(_WRITE_IF_NOT_OLDER)
            for start in range(0, table.num_rows, self._chunk_rows):
                chunk = table.slice(start, self._chunk_rows)
                total += self._write_chunk(view, chunk, features, event_timestamp_column)
                if progress is not None:
                    progress(chunk.num_rows)
        return total

    def _write_chunk(
        self, view: FeatureView, chunk: pa.Table, features: list[Field], event_time: str
    ) -> WriteResult:
        rows = chunk.num_rows
        key_types = {column.name: column.dtype.to_value_type() for column in view.entity_columns}
        raw_keys = encode_entity_keys(
            {name: chunk.column(name) for name in view.join_keys}, key_types, self._project
        )
        slots = None
        if isinstance(self._client, RedisCluster):
            slots = np.fromiter(map(slot_of, raw_keys.to_list()), np.int64, rows)
            order = np.argsort(slots, kind="stable")
            slots = slots[order]
            chunk = chunk.take(pa.array(order))
            raw_keys = encode_entity_keys(
                {name: chunk.column(name) for name in view.join_keys}, key_types, self._project
            )
        keys = resp_bulk(raw_keys)
        # Per key, the HSET arguments: `_ts:<view>` and the event time, then field and value.
        parts = [
            Binary.constant(resp_bulk_constant(timestamp_field(view.name)), rows),
            resp_bulk(encode_timestamps(chunk.column(event_time), event_time)),
        ]
        for feature in features:
            value_type = feature.dtype.to_value_type()
            parts.append(
                Binary.constant(resp_bulk_constant(field_name(view.name, feature.name)), rows)
            )
            parts.append(
                resp_bulk(encode_values(chunk.column(feature.name), value_type, feature.name))
            )
        arguments = concat_rows(parts)
        ttl_and_width = resp_bulk_constant(b"%d" % self._key_ttl_seconds) + resp_bulk_constant(
            b"%d" % (2 * len(features) + 2)
        )
        commands: list[Command] = []
        batch_slots: list[int] = []
        for start, end in _batches(slots, rows, self._batch_rows):
            count = end - start
            header = b"*%d\r\n$7\r\nEVALSHA\r\n$40\r\n%b\r\n%b" % (
                3 + count + 2 + count * (len(features) + 1) * 2,
                _SCRIPT_SHA,
                resp_bulk_constant(b"%d" % count),
            )
            commands.append(
                [header, _slice(keys, start, end), ttl_and_width, _slice(arguments, start, end)]
            )
            batch_slots.append(int(slots[start]) if slots is not None else 0)
        counts = [end - start for start, end in _batches(slots, rows, self._batch_rows)]
        client = self._client
        if not isinstance(client, RedisCluster):
            result, _ = self._send(client.connection_pool, commands, counts, tolerate=False)
            return result
        return self._send_cluster(client, commands, batch_slots, counts)

    def _send_cluster(
        self,
        cluster: RedisCluster,
        commands: list[Command],
        batch_slots: list[int],
        counts: list[int],
    ) -> WriteResult:
        groups = group_by_node(cluster, batch_slots)

        def send(positions: list[int], pool: Any) -> tuple[WriteResult, list[int]]:
            result, again = self._send(
                pool,
                [commands[i] for i in positions],
                [counts[i] for i in positions],
                tolerate=True,
            )
            return result, [positions[i] for i in again]

        pools = [cluster.get_redis_connection(group.node).connection_pool for group in groups]
        try:
            if len(groups) <= 1:
                outcomes = [send(g.positions, pool) for g, pool in zip(groups, pools, strict=True)]
            else:
                with ThreadPoolExecutor(len(groups)) as threads:
                    outcomes = list(threads.map(send, [group.positions for group in groups], pools))
        except (redis.ConnectionError, redis.TimeoutError):
            refresh_slot_map(cluster)
            raise
        total = WriteResult(0, 0)
        for result, again in outcomes:
            total += result
            for position in again:  # resharding or failover: let redis-py follow the slot
                written, skipped = cluster.execute_command(
                    "EVAL", _WRITE_IF_NOT_OLDER, counts[position], *unframe(commands[position][1:])
                )
                total += WriteResult(int(written), int(skipped))
        return total

    def _send(
        self, pool: Any, commands: Sequence[Command], counts: Sequence[int], *, tolerate: bool
    ) -> tuple[WriteResult, list[int]]:
        """Send the packed EVALSHA commands, up to `batch_rows × batches_per_round_trip` rows per
        round trip (a cluster's one-slot batches are small: many share a trip), and add up the
        replies; with `tolerate`, also the positions of commands answered with a redirection."""
        connection = pool.get_connection()
        result = WriteResult(0, 0)
        again: list[int] = []
        budget = self._batch_rows * self._batches_per_round_trip
        try:
            first = 0
            while first < len(commands):
                last, rows = first, 0
                while last < len(commands) and (rows < budget or last == first):
                    rows += counts[last]
                    last += 1
                trip = commands[first:last]
                connection.send_packed_command([part for command in trip for part in command])
                for position in range(first, last):
                    try:
                        written, skipped = connection.read_response()
                    except (*REDIRECTED, NoScriptError):
                        if not tolerate:
                            raise
                        again.append(position)
                        continue
                    result += WriteResult(int(written), int(skipped))
                first = last
        except BaseException:
            connection.disconnect()  # replies may be left unread on it
            raise
        finally:
            pool.release(connection)
        return result, again


def _batches(slots: np.ndarray | None, rows: int, size: int) -> list[tuple[int, int]]:
    """Row ranges of at most `size` rows; with `slots` (sorted), each within one slot."""
    if slots is None or not rows:
        runs = [(0, rows)]
    else:
        starts = [0, *(np.flatnonzero(np.diff(slots)) + 1).tolist()]
        runs = list(zip(starts, [*starts[1:], rows], strict=True))
    return [
        (start, min(start + size, end)) for begin, end in runs for start in range(begin, end, size)
    ]


def _slice(binary: Binary, start: int, end: int) -> memoryview:
    """Rows [start, end) of a column as one contiguous buffer, without copying."""
    begin, stop = int(binary.offsets[start]), int(binary.offsets[end])
    window: memoryview = binary.data[begin:stop].data
    return window


def _check_columns(
    view: FeatureView, table: pa.Table, features: list[Field], event_timestamp_column: str
) -> None:
    if not view.join_keys:
        raise EncodingError(
            f"Feature view `{view.name}` has no join keys yet; pass the view as registered "
            "(e.g. `store.get_feature_view(name)`), whose entity columns Feast has resolved."
        )
    missing = [key for key in view.join_keys if key not in table.column_names]
    if event_timestamp_column not in table.column_names:
        missing.append(event_timestamp_column)
    if missing:
        raise EncodingError(
            f"The rows for feature view `{view.name}` lack column(s) "
            f"{', '.join(f'`{name}`' for name in missing)}; include the join keys and the event "
            "time column."
        )
    if not features:
        names = ", ".join(f"`{field.name}`" for field in view.features)
        raise EncodingError(
            f"The rows for feature view `{view.name}` hold none of its features ({names}); "
            "include at least one feature column."
        )
