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


def _normal_limit(reply: Any) -> str | None:
    """The ``normal`` class of a ``CONFIG GET client-output-buffer-limit`` reply ("normal
    65536 32768 5"), None when it sets no limit."""
    values = list(reply.values()) if isinstance(reply, dict) else list(reply or [])[1::2]
    words = " ".join(v.decode() if isinstance(v, bytes) else str(v) for v in values).split()
    for i, word in enumerate(words[:-3]):
        if word == "normal":
            limit = words[i + 1 : i + 4]
            return None if all(w == "0" for w in limit[:2]) else " ".join(["normal", *limit])
    return None


NOT_READABLE = "normal ?: CONFIG GET is not permitted here"


def output_buffer_limit(client: Any) -> str | None:
    """The server's ``client-output-buffer-limit`` for normal clients, as one phrase; None
    when it sets none, or the server does not answer (then it did not cut a read for that)."""
    try:
        return _normal_limit(client.execute_command("CONFIG", "GET", "client-output-buffer-limit"))
    except redis.ResponseError:
        return NOT_READABLE
    except (redis.RedisError, OSError):
        return None


async def async_output_buffer_limit(client: Any) -> str | None:
    """:func:`output_buffer_limit` with an asyncio client."""
    try:
        reply = await client.execute_command("CONFIG", "GET", "client-output-buffer-limit")
    except redis.ResponseError:
        return NOT_READABLE
    except (redis.RedisError, OSError):
        return None
    return _normal_limit(reply)


class ReadCutOff(redis.ConnectionError):
    """The server closed the connection during a read, and it limits its clients' output
    buffers: the message names that limit, the likely cause."""


def cut_off(exc: redis.ConnectionError, what: str, limit: str | None) -> redis.ConnectionError:
    """The error of a read of ``what`` that the server cut off: a :class:`ReadCutOff` naming
    the server's output buffer limit, or ``exc`` itself when the server sets none."""
    if limit is None:
        return exc
    return ReadCutOff(
        f"the server closed the connection during a read of {what}: its "
        f"client-output-buffer-limit ({limit}) may be too small"
    )
