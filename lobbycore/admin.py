"""Administration of whole pools: for tools that make throw-away pools (``lobbysim race``,
the demo, capacity runs). Each call touches only the keys of the pool it names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._keys import NaiveKeys, PoolKeys, shard_count_of, sharded_pattern, sub_pools, text
from ._plans import Plan, Scan, run_async, run_sync

__all__ = [
    "StreamInfo",
    "async_count_pool_keys",
    "async_delete_pool",
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
