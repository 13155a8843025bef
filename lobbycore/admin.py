"""Administration of whole pools: for tools that make throw-away pools (``lobbysim race``,
the demo, capacity runs). Each call touches only the keys of the pool it names.
"""

from __future__ import annotations

from typing import Any

from ._keys import NaiveKeys, PoolKeys, shard_count_of, sharded_pattern, sub_pools
from ._plans import Plan, Scan, run_async, run_sync

__all__ = [
    "async_count_pool_keys",
    "async_delete_pool",
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
