"""What the audit reads of the server itself: whether it may evict a pool's keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis

from .._protocol import SAFE_EVICTION_POLICY, may_evict, server_infos


@dataclass(frozen=True, slots=True)
class MemoryPolicy:
    """One server's ``maxmemory-policy`` and ``maxmemory`` (0 = no limit), from INFO memory."""

    policy: str
    maxmemory: int

    @property
    def evicting(self) -> bool:
        """A policy that drops keys when memory runs out (now, or once a limit is set)."""
        return self.policy != SAFE_EVICTION_POLICY

    def warning(self) -> str | None:
        """One line on what an evicting policy does to a pool, None if it is safe."""
        if not self.evicting:
            return None
        if may_evict(self.policy, self.maxmemory):
            what = (
                f"with maxmemory={self.maxmemory} it can evict pool keys (stores refuse "
                "such a server unless allow_eviction=True; lost keys raise PoolStateLost)"
            )
        else:
            what = (
                "once a maxmemory is set (none now) it will evict pool keys (stores "
                "then refuse the server unless allow_eviction=True)"
            )
        return f"maxmemory-policy={self.policy}: {what}; set it to {SAFE_EVICTION_POLICY}"


def memory_policies(client: Any) -> tuple[MemoryPolicy, ...]:
    """The memory policy of the server (of each primary, for a cluster client), or () if
    the server does not answer ``INFO memory`` (an ACL without +info, an embedded server)."""
    # A cluster client sends INFO to one node unless told which: a pool may live on any primary.
    where = {"target_nodes": client.get_primaries()} if hasattr(client, "get_primaries") else {}
    try:
        reply = client.info("memory", **where)
    except redis.ResponseError:
        return ()
    return tuple(
        MemoryPolicy(str(info.get("maxmemory_policy", "")), int(info.get("maxmemory", 0) or 0))
        for info in server_infos(reply)
    )
