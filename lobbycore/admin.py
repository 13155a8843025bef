"""Administration of whole pools: for tools that make throw-away pools (``lobbysim race``,
the demo, capacity runs). Each call touches only the keys of the pool it names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import redis
from redis.asyncio.cluster import RedisCluster

from ._aio import AsyncLobbyStore
from ._errors import PoolStateLost
from ._keys import (
    NaiveKeys,
    PoolKeys,
    shard_count_of,
    sharded_pattern,
    sub_pools,
    text,
)
from ._models import LobbyEvent
from ._plans import Plan, Scan, run_async, run_sync
from ._protocol import ScriptCall
from .defaults import MAX_BATCH, MAX_ID_BYTES, READ_REPLY_BYTES
from .typing import AsyncStore

__all__ = [
    "MAX_EVENT_BYTES",
    "StreamInfo",
    "async_count_pool_keys",
    "async_delete_pool",
    "async_follow_reply_bytes",
    "async_read_events",
    "async_stream_info",
    "count_name_keys",
    "count_pool_keys",
    "delete_pool",
]

DELETE_BATCH = 500
"""Keys per DEL."""


def _layouts(pool: str, naive: bool, shards: int) -> tuple[PoolKeys | NaiveKeys, ...]:
    return (NaiveKeys.for_pool(pool),) if naive else sub_pools(pool, shards)


def _keys_of(keys: PoolKeys | NaiveKeys) -> Plan[list[Any]]:
    """Every key of one (sub-)pool, found with SCAN."""
    if isinstance(keys, PoolKeys):
        (found,) = yield [Scan(keys.all_pattern)]
        return list(found)
    everything: list[Any] = []
    for pattern in keys.all_patterns:
        (found,) = yield [Scan(pattern)]
        # The article's lobby pattern of pool "a" also matches pool "a:b"'s lobbies.
        everything += [k for k in found if pattern != keys.lobby_pattern or keys.is_lobby_key(k)]
    return everything


def _count_plan(pool: str, naive: bool, shards: int) -> Plan[int]:
    found = 0
    for keys in _layouts(pool, naive, shards):
        found += len((yield from _keys_of(keys)))
    return found


def _name_plan(pool: str) -> Plan[int]:
    # Each layout's keys have a prefix of their own, so no key is counted twice.
    found = yield from _count_plan(pool, False, 1)
    found += yield from _count_plan(pool, True, 1)
    (sharded,) = yield [Scan(sharded_pattern(pool))]
    return found + sum(1 for key in sharded if shard_count_of(pool, key))


def _delete_plan(pool: str, naive: bool, shards: int) -> Plan[int]:
    deleted = 0
    for keys in _layouts(pool, naive, shards):
        found = yield from _keys_of(keys)
        for start in range(0, len(found), DELETE_BATCH):
            batch = found[start : start + DELETE_BATCH]
            if isinstance(keys, PoolKeys):
                # A sub-pool's keys share one slot, so one DEL works on a cluster too.
                yield [("DEL", *batch)]
            else:
                # The article's lobby keys carry no hash tag (they spread over a cluster's
                # slots), so each is its own DEL.
                yield [("DEL", key) for key in batch]
        deleted += len(found)
    return deleted


def delete_pool(client: Any, pool: str, *, naive: bool = False, shards: int = 1) -> int:
    """Delete every key of one pool (found with SCAN, never KEYS); how many were deleted.

    ``naive``: the naive store's pool of that name; ``shards``: the pool's shard count, as
    given to the store. No other key is touched.
    """
    return run_sync(client, _delete_plan(pool, naive, shards))


async def async_delete_pool(client: Any, pool: str, *, naive: bool = False, shards: int = 1) -> int:
    """:func:`delete_pool` with an asyncio client."""
    return await run_async(client, _delete_plan(pool, naive, shards))


def count_pool_keys(client: Any, pool: str, *, naive: bool = False, shards: int = 1) -> int:
    """How many keys one pool holds (SCAN, never KEYS): 0 means the pool does not exist.

    Tools that make their own pools call it first, so that they never write into, or
    delete, a pool someone else is using.
    """
    return run_sync(client, _count_plan(pool, naive, shards))


async def async_count_pool_keys(
    client: Any, pool: str, *, naive: bool = False, shards: int = 1
) -> int:
    """:func:`count_pool_keys` with an asyncio client."""
    return await run_async(client, _count_plan(pool, naive, shards))


def count_name_keys(client: Any, pool: str) -> int:
    """How many keys a pool name holds in any layout: lobbycore's, unsharded or split into
    any number of shards, and the naive store's (SCAN, never KEYS). 0: no store has used the
    name, so a run may take it as its own."""
    return run_sync(client, _name_plan(pool))


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """Where one (sub-)pool's change stream stands (XINFO STREAM, one atomic read).

    The stream is only appended to and trimmed from its head (never XDEL), so its entries
    are numbered 1, 2, ... in the order they were added: the first entry still held is
    number ``added - length + 1``, the last ``added``.
    """

    length: int
    """Entries held now."""
    first_id: str | None
    """The oldest entry still held (None: the stream is empty or does not exist)."""
    last_id: str
    """The newest entry ever added (``0-0``: none)."""
    added: int | None
    """Entries ever added (``entries-added``, Redis 7 and later; None before)."""

    @property
    def trimmed(self) -> int | None:
        """Entries trimmed from the head so far (None: not known before Redis 7)."""
        return None if self.added is None else self.added - self.length


NO_STREAM = StreamInfo(0, None, "0-0", 0)
"""A stream that does not exist (no event yet)."""


def _stream_info(reply: Any) -> StreamInfo:
    # RESP3 answers a map, RESP2 a flat list of names and values.
    fields = (
        reply
        if isinstance(reply, dict)
        else {reply[i]: reply[i + 1] for i in range(0, len(reply), 2)}
    )
    info = {text(name): value for name, value in fields.items()}
    first = info.get("first-entry")
    added = info.get("entries-added")
    return StreamInfo(
        int(info["length"]),
        text(first[0]) if first else None,
        text(info["last-generated-id"]),
        None if added is None else int(added),
    )


def _stream_plan(pool: str, shards: int) -> Plan[list[StreamInfo]]:
    keys = [sub.events for sub in sub_pools(pool, shards)]
    # XINFO STREAM refuses a missing key: look first (a pool with no event has no stream).
    exists = yield [("EXISTS", key) for key in keys]
    held = [key for key, n in zip(keys, exists, strict=True) if n]
    replies: list[Any] = []
    if held:
        replies = yield [("XINFO", "STREAM", key) for key in held]
    found = iter(replies)
    return [_stream_info(next(found)) if n else NO_STREAM for n in exists]


async def async_stream_info(client: Any, pool: str, *, shards: int = 1) -> list[StreamInfo]:
    """Where each sub-pool's change stream stands, one per shard in shard order (two round
    trips; each stream's figures are one atomic read, the shards' are not read together)."""
    return await run_async(client, _stream_plan(pool, shards))


_RESP_HEADER: Final = 16
"""Bytes RESP spends at most on one element's header (as events.lua counts them)."""
_EVENT_USERS: Final = 16
"""User ids an event names at most (EVENT_USERS in lua/common.lua)."""
MAX_EVENT_BYTES: Final = (
    2 * _RESP_HEADER
    + (41 + _RESP_HEADER)  # the entry, its id (<ms>-<seq>, 20 digits each)
    + _RESP_HEADER
    + 12 * _RESP_HEADER  # its fields: 6 names, 6 values
    + len("typelobbymaxsizeusersn")
    + len("expired")
    + MAX_ID_BYTES  # the lobby id
    + 3 * 20  # max, size, n: integers
    + _EVENT_USERS * (MAX_ID_BYTES + 1)  # the users, NUL-separated
)
"""The most one change-stream entry the scripts write can take in a reply (16 user ids of
the longest size): ``async_read_events`` asks for ``reply_bytes // MAX_EVENT_BYTES``
entries, so that no reply exceeds ``reply_bytes`` whatever the events hold."""


FOLLOW_REPLY_BYTES: Final = 4 * 1024 * 1024
"""The most a follower's read of the change stream asks for (about 880 of the largest
events; JoinStorm's take about 100 bytes each, so a read holds about 40 kB)."""
LARGE_READ_EVENTS: Final = 256
"""Below this many of the largest events per reply, reads go through the store's script,
which counts the bytes of each event it returns (a few hundred small ones in 32 kB)."""


async def async_follow_reply_bytes(client: Any) -> int:
    """The reply bound for :func:`async_read_events` on this server: FOLLOW_REPLY_BYTES, or
    half the smallest ``client-output-buffer-limit`` the server sets for normal clients
    (a reply near it would close the connection); READ_REPLY_BYTES when the server does
    not say (CONFIG GET refused). A Redis failure raises."""
    try:
        reply = await client.execute_command("CONFIG", "GET", "client-output-buffer-limit")
    except redis.ResponseError:
        return READ_REPLY_BYTES
    values = list(reply.values()) if isinstance(reply, dict) else list(reply or [])[1::2]
    words = " ".join(text(v) for v in values).split()
    bound = FOLLOW_REPLY_BYTES
    for i, word in enumerate(words[:-2]):
        if word == "normal":
            for limit in words[i + 1 : i + 3]:  # hard, then soft; 0: none
                if _bytes(limit):
                    bound = min(bound, _bytes(limit) // 2)
    return bound


def _bytes(size: str) -> int:
    """A CONFIG size (``65536``, ``64kb``, ``1mb``, ``1gb``) in bytes."""
    units = {"kb": 1024, "mb": 1024**2, "gb": 1024**3, "k": 1000, "m": 1000**2, "g": 1000**3}
    lowered = size.lower()
    for unit, scale in units.items():
        if lowered.endswith(unit):
            return int(lowered[: -len(unit)]) * scale
    return int(lowered)


def _event(entry_id: Any, fields: Any) -> LobbyEvent:
    # redis-py answers XRANGE with each entry's fields as a dict (a flat list without its
    # callbacks), in bytes (str with decode_responses). Read once per event, for thousands
    # of events a second: names are looked up, not decoded, and bytes decoded directly.
    if not isinstance(fields, dict):
        fields = dict(zip(fields[::2], fields[1::2], strict=True))
    if isinstance(entry_id, bytes) and b"users" in fields:
        joined = fields[b"users"].decode()
        kind, lobby = fields[b"type"].decode(), fields[b"lobby"].decode()
        entry = entry_id.decode()
    else:  # str replies
        fields = {text(name).encode(): value for name, value in fields.items()}
        joined = text(fields[b"users"])
        kind, lobby, entry = text(fields[b"type"]), text(fields[b"lobby"]), text(entry_id)
    users = tuple(joined.split("\0")) if joined else ()
    n = fields.get(b"n")
    return LobbyEvent(
        id=entry,
        type=kind,
        lobby_id=lobby,
        max_users=int(fields[b"max"]),
        size=int(fields[b"size"]),
        users=users,
        more_users=0 if n is None else int(n) - len(users),
    )


async def async_read_events(store: AsyncStore, after: str, *, reply_bytes: int) -> list[LobbyEvent]:
    """Up to ``reply_bytes // MAX_EVENT_BYTES`` change events after ``after`` (at least one
    when there is one), oldest first: ``store.events`` in large reads, for a follower of a
    busy pool (``lobbysim watch``). Fewer than asked is not the end of the stream; none is.

    Each reply stays under ``reply_bytes`` whatever the events hold (keep it under the
    server's ``client-output-buffer-limit`` for normal clients: see
    :func:`async_follow_reply_bytes`), or under READ_REPLY_BYTES when ``reply_bytes`` is too
    small for LARGE_READ_EVENTS of the largest events. Each read is one MULTI: the pool's
    meta and its stream's entries together, checked as the store checks a call (the epoch
    it learned: :class:`PoolStateLost`; the write sequence it saw: :class:`PoolRolledBack`),
    so that a pool replaced between two reads is never read as the same one. A store that
    has not opened the pool yet, a sharded pool, a cluster client, a small ``reply_bytes``
    and the naive store read through ``store.events`` (its script, replies of at most
    about READ_REPLY_BYTES).
    """
    count = reply_bytes // MAX_EVENT_BYTES
    if (
        not isinstance(store, AsyncLobbyStore)
        or store.shards != 1
        or count < LARGE_READ_EVENTS
        or isinstance(store.client, RedisCluster)
    ):
        return await store.events(after=after, count=MAX_BATCH)
    (keys,) = sub_pools(store.pool, 1)
    # The key the store's calls to this pool name first: its epoch and sequence go by it.
    planned = store._protocol.events(after, 1)
    first = planned.keys[0] if isinstance(planned, ScriptCall) else None
    if first is None or first not in store._epochs:  # the store opens the pool first
        return await store.events(after=after, count=MAX_BATCH)
    epoch = store._epochs[first]
    sequences = store.transport.sender.sequences
    floor = sequences.floor(first)
    pipe = store.client.pipeline(transaction=True)
    pipe.hmget(keys.meta, "epoch", "wseq")
    pipe.execute_command("XRANGE", keys.events, f"({after}", "+", "COUNT", count)
    (found, wseq), entries = await pipe.execute()
    if found is None or text(found) != epoch:
        raise PoolStateLost(keys.meta, "" if found is None else text(found))
    # Checked against the sequence the store saw, and kept as the highest seen, as a
    # script call's reply is (an answer with no refusal of its own).
    call = ScriptCall("events", (first,), (epoch, floor), lambda reply: reply)
    sequences.parse(call, [int(wseq or 0), ["events"]])
    return [_event(entry_id, fields) for entry_id, fields in entries]
