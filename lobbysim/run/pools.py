"""Which pool a run works in, and whether it may delete it: the one rule for every front end.

A run never deletes or disturbs what it did not create. A pool is *fresh* when its name holds
no key in any layout (lobbycore's, sharded or not, or the naive store's): the run made it,
so it may reset it, and deletes it at the end unless asked to keep it. A pool that already
holds keys is someone else's: refused unless the run was told to reuse it, and then never
deleted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import redis

from lobbycore import LobbyError, PoolLayout
from lobbycore.admin import count_name_keys, delete_pool

__all__ = ["Claim", "PoolTaken", "PoolUnreadable", "claim", "release"]


class PoolTaken(LobbyError):
    """The pool already holds keys and the run was not told to reuse it."""

    def __init__(self, pool: str, held: int, where: str | None = None) -> None:
        on = f" on {where}" if where else ""
        super().__init__(
            f"pool {pool!r} already holds {held} keys{on}; choose another --pool, or pass "
            "--reuse-pool to run in it (its keys are then never deleted)"
        )
        self.pool = pool
        self.held = held


class PoolUnreadable(LobbyError):
    """Redis failed while the pool was being looked at: one line."""


@dataclass(frozen=True)
class Claim:
    """The pool a run works in."""

    pool: str
    layout: PoolLayout
    fresh: bool
    """The name held no key in any layout: this run made the pool, and may delete it."""


def claim(
    client: Any, pool: str, layout: PoolLayout, *, reuse: bool, where: str | None = None
) -> Claim:
    """Take ``pool`` for a run that writes it in ``layout``.

    Fresh if the name holds no key in any layout; otherwise PoolTaken unless ``reuse``, and
    then the claim is not fresh (never deleted). ``where`` names the server in the message.
    PoolUnreadable if Redis fails meanwhile."""
    try:
        held = count_name_keys(client, pool)
    except redis.RedisError as exc:
        on = f" on {where}" if where else ""
        why = " ".join(str(exc).split()) or type(exc).__name__
        raise PoolUnreadable(f"cannot read pool {pool!r}{on}: {why}") from None
    if held and not reuse:
        raise PoolTaken(pool, held, where)
    return Claim(pool, layout, fresh=held == 0)


def release(
    client: Any, claimed: Claim, *, keep: bool, also: Iterable[PoolLayout] = ()
) -> int | None:
    """Delete the pool if the run made it and ``keep`` is false: how many keys were deleted,
    or None if it was kept (a reused pool always is). ``also``: other layouts the run wrote
    under the same name (the demo switches strategy)."""
    if keep or not claimed.fresh:
        return None
    layouts = dict.fromkeys((claimed.layout, *also))
    return sum(
        delete_pool(client, claimed.pool, naive=layout.naive, shards=layout.shards)
        for layout in layouts
    )
