"""Audit a pool: read everything it holds and check every lobby guarantee.

Three parts:

* the readers, :func:`snapshot` (sync client) and :func:`async_snapshot` (asyncio client),
  walk one pool's keys with SCAN (never KEYS) and read each lobby, the user index and the
  bookings stream; :func:`read_lobbies` / :func:`async_read_lobbies` read the lobbies only.
  Both layouts (lobbycore's and the naive store's), sharded or not. Run them when the load
  has stopped: a snapshot is a sequence of reads, not one atomic step. A snapshot of a name
  that holds no key says so (``exists``); :func:`pool_layouts` tells in which layouts (naive,
  shard count) the name does hold keys.
* :class:`History` records what the clients were told (each join's lobby, each leave,
  each booking). Record each simulated user's operations in the order they completed;
  a user's operations must not overlap (one user does one thing at a time).
* :func:`check` compares the two and returns a :class:`Verdict` of :class:`Finding`\\ s,
  each named by a :class:`Violation` (the records every checker shares, from
  :mod:`lobbycore.violations`). It works the same for :class:`~lobbycore.LobbyStore` and
  :class:`~lobbycore.NaiveLobbyStore` pools, which is how the test suite shows that every
  check can fail. A pool that holds no key is a verdict over nothing, never ok.

To delete a pool, see :mod:`lobbycore.admin`.
"""

from __future__ import annotations

from ..layout import PoolLayout
from ..violations import Checked, Finding, Verdict, Violation
from ._check import POOL_CHECKS, check
from ._history import History
from ._readers import (
    async_pool_layouts,
    async_read_lobbies,
    async_snapshot,
    pool_layouts,
    read_lobbies,
    snapshot,
)
from ._server import (
    MemoryPolicy,
    ReadCutOff,
    async_output_buffer_limit,
    cut_off,
    memory_policies,
    output_buffer_limit,
)
from ._snapshot import PoolSnapshot

__all__ = [
    "POOL_CHECKS",
    "Checked",
    "Finding",
    "History",
    "MemoryPolicy",
    "PoolLayout",
    "PoolSnapshot",
    "ReadCutOff",
    "Verdict",
    "Violation",
    "async_output_buffer_limit",
    "async_pool_layouts",
    "async_read_lobbies",
    "async_snapshot",
    "check",
    "cut_off",
    "memory_policies",
    "output_buffer_limit",
    "pool_layouts",
    "read_lobbies",
    "snapshot",
]
