"""Readers of a whole pool, of either layout, written once as plans (see lobbycore._plans).

:func:`snapshot` and :func:`read_lobbies` run them on a sync client, :func:`async_snapshot`
and :func:`async_read_lobbies` on an asyncio client; the plans are the same. Keys are found
with SCAN (never KEYS). Read a pool when the load has stopped: a snapshot is a sequence of
reads, not one atomic step.

Every round trip asks for at most about ``READ_REPLY_BYTES`` of replies, so that a server
with a small ``client-output-buffer-limit`` does not cut the audit off: lobbies, index
buckets and sorted sets are sized first (STRLEN, HLEN, ZCARD: small integer replies) and
read in groups that fit; streams and the article's hashes, which have no such size, are
read in pages sized from the largest entry read so far (the first page is one entry). An
item larger than the bound is read alone: the server's limit must hold the largest lobby.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

import redis

from .. import _validate as valid
from .._keys import (
    NaiveKeys,
    PoolKeys,
    decode_hash,
    lobby_deadline,
    naive_lobby,
    parse_lobby_value,
    parse_seats,
    seats_query,
    shard_count_of,
    sharded_pattern,
    split_users,
    sub_pools,
    text,
)
from .._models import Booking, Lobby
from .._plans import Plan, Scan, run_async, run_sync
from ..defaults import MAX_ID_BYTES, READ_REPLY_BYTES
from ..layout import PoolLayout
from ._server import async_output_buffer_limit, cut_off, output_buffer_limit
from ._snapshot import PoolSnapshot, merge_shards

T = TypeVar("T")
# Reply sizes, overestimated: RESP spends at most this much on each string or array header.
FRAME_BYTES = 16
LOBBY_ID_BYTES = 26
MEMBER_BYTES = LOBBY_ID_BYTES + FRAME_BYTES
"""A lobby id in an index's sorted set."""
SCORED_BYTES = MEMBER_BYTES + 24 + FRAME_BYTES
"""A lobby id and its score (ZRANGE ... WITHSCORES)."""
INDEX_ENTRY_BYTES = MAX_ID_BYTES + LOBBY_ID_BYTES + 2 * FRAME_BYTES
"""A user index entry: user id -> lobby id."""
MAX_PAGE = 1000
"""Entries per stream page at most, however small they are."""


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _fitting(items: Sequence[T], sizes: Sequence[int]) -> Iterator[Sequence[T]]:
    """``items`` in runs whose replies add up to at most READ_REPLY_BYTES (an item larger
    than that alone)."""
    start, total = 0, 0
    for i, size in enumerate(sizes):
        if i > start and total + size > READ_REPLY_BYTES:
            yield items[start:i]
            start, total = i, 0
        total += size
    if start < len(items):
        yield items[start:]


def _sizes(command: str, keys: Sequence[str]) -> Plan[list[int]]:
    """Each key's size as ``command`` (STRLEN, HLEN, ZCARD) tells it."""
    sizes: list[int] = []
    # Each replies with one integer.
    for chunk in _chunks(keys, READ_REPLY_BYTES // FRAME_BYTES):
        sizes.extend(int(n or 0) for n in (yield [(command, key) for key in chunk]))
    return sizes


def reply_bytes(reply: Any) -> int:
    """About how many bytes ``reply`` took on the wire (RESP2 or RESP3), overestimated."""
    if isinstance(reply, bytes | str):
        return len(reply) + FRAME_BYTES
    if isinstance(reply, dict):
        return FRAME_BYTES + sum(reply_bytes(k) + reply_bytes(v) for k, v in reply.items())
    if isinstance(reply, list | tuple):
        return FRAME_BYTES + sum(reply_bytes(item) for item in reply)
    return FRAME_BYTES


def _next_page(largest: int | None) -> int:
    """Entries to ask for next, given the largest entry read so far (one before any)."""
    if largest is None:
        return 1
    return max(1, min(MAX_PAGE, READ_REPLY_BYTES // max(largest, 1)))


def _lobbies_and_deadlines(keys: PoolKeys) -> Plan[tuple[dict[str, Lobby], dict[str, int]]]:
    (lobby_keys,) = yield [Scan(keys.lobby_pattern)]
    lengths = yield from _sizes("STRLEN", lobby_keys)
    lobbies: dict[str, Lobby] = {}
    deadlines: dict[str, int] = {}
    for chunk in _fitting(lobby_keys, [n + FRAME_BYTES for n in lengths]):
        values = yield [("GET", key) for key in chunk]
        for key, raw in zip(chunk, values, strict=True):
            lobby = parse_lobby_value(keys.lobby_id_of(key), raw)
            if lobby is not None:
                lobbies[lobby.id] = lobby
                deadlines[lobby.id] = lobby_deadline(raw)
    return lobbies, deadlines


def _lobbies(keys: PoolKeys) -> Plan[dict[str, Lobby]]:
    lobbies, _ = yield from _lobbies_and_deadlines(keys)
    return lobbies


def _naive_lobbies(keys: NaiveKeys) -> Plan[dict[str, Lobby]]:
    (found,) = yield [Scan(keys.lobby_pattern)]
    lobby_keys = [key for key in found if keys.is_lobby_key(key)]
    lobbies: dict[str, Lobby] = {}
    # The article's hashes are read with its own commands only (HGETALL), in runs sized
    # from the largest one read so far.
    start, largest = 0, None
    while start < len(lobby_keys):
        chunk = lobby_keys[start : start + _next_page(largest)]
        hashes = yield [("HGETALL", key) for key in chunk]
        for key, raw in zip(chunk, hashes, strict=True):
            largest = max(largest or 0, reply_bytes(raw))
            fields = decode_hash(raw)
            if fields:
                lobby = naive_lobby(keys.lobby_id_of(key), fields)
                lobbies[lobby.id] = lobby
        start += len(chunk)
    return lobbies


def _bookings(stream: str) -> Plan[list[Booking]]:
    bookings: list[Booking] = []
    after, largest = "-", None
    while True:
        # A page past the first starts at the last entry already read: one more.
        count = _next_page(largest) + (after != "-")
        (entries,) = yield [("XRANGE", stream, after, "+", "COUNT", count)]
        if after != "-":
            entries = entries[1:]
        if not entries:
            return bookings
        largest = max(largest or 0, *map(reply_bytes, entries))
        for _entry_id, raw in entries:
            fields = decode_hash(raw)
            bookings.append(
                Booking(
                    lobby_id=fields["lobby"],
                    session_id=fields.get("session", ""),
                    users=split_users(fields.get("users", "")),
                    booked_at=int(fields.get("at", 0)),
                    request_id=fields.get("request", ""),
                )
            )
        after = text(entries[-1][0])


def _seats(keys: PoolKeys | NaiveKeys) -> Plan[int | None]:
    (seats,) = yield [seats_query(keys)]
    return parse_seats(seats)


def _exists(keys: PoolKeys | NaiveKeys) -> Plan[bool]:
    (count,) = yield [("EXISTS", *keys.singletons)]
    return bool(count)


def _stats(keys: PoolKeys) -> Plan[dict[str, int]]:
    (counters,) = yield [("HGETALL", keys.stats)]
    # A counter that is not a whole number is left out: the relations it is part of then
    # fail and say so, instead of the audit stopping on it.
    return {
        name: int(value)
        for name, value in decode_hash(counters).items()
        if value.lstrip("-").isdecimal()
    }


def _user_index(keys: PoolKeys) -> Plan[dict[str, str]]:
    (buckets,) = yield [Scan(keys.user_index_pattern)]
    lengths = yield from _sizes("HLEN", buckets)
    index: dict[str, str] = {}
    for chunk in _fitting(buckets, [n * INDEX_ENTRY_BYTES for n in lengths]):
        for entries in (yield [("HGETALL", bucket) for bucket in chunk]):
            index.update(decode_hash(entries))
    return index


def _sorted_sets(pattern: str) -> Plan[dict[str, set[str]]]:
    """Members of every sorted set whose name matches ``pattern``, by key."""
    (set_keys,) = yield [Scan(pattern)]
    cards = yield from _sizes("ZCARD", set_keys)
    # Ranges of at most a reply's worth of members; a set's last range runs to its end.
    page = READ_REPLY_BYTES // MEMBER_BYTES
    ranges = [
        (key, start, start + page - 1 if start + page < card else -1)
        for key, card in zip(set_keys, cards, strict=True)
        for start in range(0, max(card, 1), page)
    ]
    sizes = [
        min(page, card - start) * MEMBER_BYTES
        for key, card in zip(set_keys, cards, strict=True)
        for start in range(0, max(card, 1), page)
    ]
    found: dict[str, set[str]] = {key: set() for key in set_keys}
    for chunk in _fitting(ranges, sizes):
        members = yield [("ZRANGE", key, start, stop) for key, start, stop in chunk]
        for (key, _, _), ids in zip(chunk, members, strict=True):
            found[key].update(text(m) for m in ids)
    return found


def _open_index(keys: PoolKeys) -> Plan[dict[int, set[str]]]:
    found = yield from _sorted_sets(keys.open_pattern)
    return {keys.capacity_of(key): ids for key, ids in found.items()}


def _room_index(keys: PoolKeys) -> Plan[dict[tuple[int, int], set[str]]]:
    found = yield from _sorted_sets(keys.room_pattern)
    return {keys.room_of(key): ids for key, ids in found.items()}


def _score_pairs(reply: list[Any]) -> list[tuple[Any, Any]]:
    """A raw ZRANGE ... WITHSCORES reply as (member, score) pairs: RESP3 sends pairs,
    RESP2 one flat list."""
    if reply and isinstance(reply[0], list | tuple):
        return [(member, score) for member, score in reply]
    return list(zip(reply[::2], reply[1::2], strict=True))


def _expiry_index(keys: PoolKeys) -> Plan[dict[str, int]]:
    index: dict[str, int] = {}
    start, size = 0, READ_REPLY_BYTES // SCORED_BYTES
    while True:
        (reply,) = yield [("ZRANGE", keys.expiry, start, start + size - 1, "WITHSCORES")]
        page = _score_pairs(reply)
        for member, score in page:
            index[text(member)] = int(float(text(score)))
        if len(page) < size:
            return index
        start += size


def _pool(keys: PoolKeys) -> Plan[PoolSnapshot]:
    lobbies, deadlines = yield from _lobbies_and_deadlines(keys)
    seats_left = yield from _seats(keys)
    bookings = yield from _bookings(keys.bookings)
    user_index = yield from _user_index(keys)
    open_index = yield from _open_index(keys)
    room_index = yield from _room_index(keys)
    expiry_index = yield from _expiry_index(keys)
    stats = yield from _stats(keys)
    exists = bool(lobbies) or (yield from _exists(keys))
    return PoolSnapshot(
        lobbies,
        user_index,
        open_index,
        bookings,
        seats_left,
        exists=exists,
        stats=stats,
        room_index=room_index,
        expiry_index=expiry_index,
        deadlines=deadlines,
    )


def _naive_pool(keys: NaiveKeys) -> Plan[PoolSnapshot]:
    lobbies = yield from _naive_lobbies(keys)
    seats_left = yield from _seats(keys)
    bookings = yield from _bookings(keys.bookings)
    exists = bool(lobbies) or (yield from _exists(keys))
    return PoolSnapshot(lobbies, None, None, bookings, seats_left, exists=exists)


def snapshot_plan(pool: str, *, naive: bool = False, shards: int = 1) -> Plan[PoolSnapshot]:
    """Read a whole pool. ``shards``: the pool's shard count, as given to the store; the
    sub-pools are read one after the other and merged, and index entries outside their
    user's shard are reported. Naive pools have no shards."""
    valid.pool_name(pool)
    valid.shards(shards)
    if naive:
        return (yield from _naive_pool(NaiveKeys.for_pool(pool)))
    if shards == 1:
        return (yield from _pool(PoolKeys.for_pool(pool)))
    parts = []
    for keys in sub_pools(pool, shards):
        parts.append((yield from _pool(keys)))
    return merge_shards(parts)


def lobbies_plan(pool: str, *, naive: bool = False, shards: int = 1) -> Plan[dict[str, Lobby]]:
    """Every lobby of a pool: lighter than a whole snapshot."""
    if naive:
        return (yield from _naive_lobbies(NaiveKeys.for_pool(pool)))
    lobbies: dict[str, Lobby] = {}
    for keys in sub_pools(pool, shards):
        lobbies.update((yield from _lobbies(keys)))
    return lobbies


SHARD_PROBE = 100
"""Keys looked at (at most) to learn the shard counts a pool name is used with."""


def layouts_plan(pool: str) -> Plan[tuple[PoolLayout, ...]]:
    """Every layout that holds a key of ``pool``: each SCAN stops at its first finds."""
    valid.pool_name(pool)
    naive_keys = NaiveKeys.for_pool(pool)
    lobby_pattern, extras_pattern = naive_keys.all_patterns
    unsharded, naive_lobbies, naive_extras, sharded = yield [
        Scan(PoolKeys.for_pool(pool).all_pattern, limit=1),
        # The article's lobby keys of pool "a" also match those of pool "a:b": look further.
        Scan(lobby_pattern, limit=SHARD_PROBE),
        Scan(extras_pattern, limit=1),
        Scan(sharded_pattern(pool), limit=SHARD_PROBE),
    ]
    found = {PoolLayout(shards=n) for key in sharded if (n := shard_count_of(pool, key))}
    if unsharded:
        found.add(PoolLayout())
    if naive_extras or any(naive_keys.is_lobby_key(text(key)) for key in naive_lobbies):
        found.add(PoolLayout(naive=True))
    return tuple(sorted(found))


def pool_layouts(client: Any, pool: str) -> tuple[PoolLayout, ...]:
    """The layouts (naive or not, shard count) in which a pool of this name holds keys,
    with a sync client: to say how to read a pool :func:`snapshot` found no key of.
    Bounded: each SCAN stops once it has found what it looks for (but a name that is in
    no layout costs a SCAN of the whole keyspace per layout, as any audit does)."""
    return run_sync(client, layouts_plan(pool))


async def async_pool_layouts(client: Any, pool: str) -> tuple[PoolLayout, ...]:
    """:func:`pool_layouts` with an asyncio client."""
    return await run_async(client, layouts_plan(pool))


def _what(pool: str) -> str:
    return f"pool {pool!r} (replies of at most {READ_REPLY_BYTES // 1024} kB, or one lobby)"


def _bounded(client: Any, pool: str, plan: Plan[T]) -> T:
    try:
        return run_sync(client, plan)
    except redis.ConnectionError as exc:
        raise cut_off(exc, _what(pool), output_buffer_limit(client)) from exc


async def _async_bounded(client: Any, pool: str, plan: Plan[T]) -> T:
    try:
        return await run_async(client, plan)
    except redis.ConnectionError as exc:
        raise cut_off(exc, _what(pool), await async_output_buffer_limit(client)) from exc


def snapshot(client: Any, pool: str, *, naive: bool = False, shards: int = 1) -> PoolSnapshot:
    """Read a whole pool with a sync client (see :func:`snapshot_plan`). A connection the
    server closes during the read raises ``redis.ConnectionError`` naming the server's
    ``client-output-buffer-limit`` (if it sets one)."""
    return _bounded(client, pool, snapshot_plan(pool, naive=naive, shards=shards))


async def async_snapshot(
    client: Any, pool: str, *, naive: bool = False, shards: int = 1
) -> PoolSnapshot:
    """Read a whole pool with an asyncio client (see :func:`snapshot`)."""
    return await _async_bounded(client, pool, snapshot_plan(pool, naive=naive, shards=shards))


def read_lobbies(
    client: Any, pool: str, *, naive: bool = False, shards: int = 1
) -> dict[str, Lobby]:
    """Every lobby of a pool, with a sync client."""
    return _bounded(client, pool, lobbies_plan(pool, naive=naive, shards=shards))


async def async_read_lobbies(
    client: Any, pool: str, *, naive: bool = False, shards: int = 1
) -> dict[str, Lobby]:
    """Every lobby of a pool, with an asyncio client."""
    return await _async_bounded(client, pool, lobbies_plan(pool, naive=naive, shards=shards))
