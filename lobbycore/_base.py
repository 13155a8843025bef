"""What the sync and async stores share: configuration, and the server check and epochs of
their one-time open."""

from __future__ import annotations

from typing import Any, TypeVar

from redis.exceptions import ResponseError

from . import _validate as check
from ._errors import InvalidInput, ServerRefused, UnsafeServer
from ._protocol import PoolProtocol, ScriptCall, check_server, server_infos
from ._scripts import ScriptSet
from ._sharding import ShardedProtocol, shard_of
from .acl import KEYS_ACL, PROBE, SCRIPT_COMMANDS, denied
from .defaults import (
    DEFAULT_BOOKING_TTL,
    DEFAULT_LOBBY_TTL,
    DEFAULT_POOL,
    DEFAULT_REPLAY_WINDOW,
    DEFAULT_WAIT_REPLICAS,
    DEFAULT_WAIT_TIMEOUT,
)
from .transport import AsyncClientTransport, ClientTransport
from .typing import AsyncTransport, Transport

T = TypeVar("T")

# Errors INFO may give: unknown to an in-process emulator (fakeredis has no INFO, so it
# is not checked), or not permitted to an ACL user (refused: grant +info).
UNKNOWN_COMMAND = "unknown command"


class StoreBase:
    """Holds the client, the pool's protocol and the transport its script calls go through
    (set by the sync or async store: see :mod:`lobbycore.transport`)."""

    transport: Transport | AsyncTransport

    def __init__(
        self,
        client: Any,
        pool: str = DEFAULT_POOL,
        lobby_ttl: float | None = DEFAULT_LOBBY_TTL,
        *,
        booking_ttl: float = DEFAULT_BOOKING_TTL,
        replay_window: float | None = DEFAULT_REPLAY_WINDOW,
        shards: int = 1,
        allow_eviction: bool = False,
        create_pool: bool = True,
        wait_replicas: int = DEFAULT_WAIT_REPLICAS,
        wait_timeout: float = DEFAULT_WAIT_TIMEOUT,
    ) -> None:
        """``replay_window``: seconds a join's answer is kept so that a replay of that same
        call (a retry after a lost reply) gets it again instead of placing anyone twice,
        even if the lobby was booked meanwhile; None keeps nothing.

        ``shards``: split the pool into this many sub-pools, each on its own hash tag (so
        on a Redis Cluster they spread over the primaries); a user always goes to the same
        one (:meth:`shard_of`). Every guarantee holds per user; a party must share a shard
        (else :class:`~lobbycore.PartySpansShards`); stats, events, seats and sweeps fan
        out, one call per shard. 1 (the default) is a plain pool.

        The first call checks the server once (``INFO``): Redis older than 6.2 raises
        :class:`~lobbycore.UnsafeServer`, and so does a ``maxmemory`` with a
        ``maxmemory-policy`` other than ``noeviction`` unless ``allow_eviction`` is True.
        Each sub-pool's first call learns its epoch (see :class:`~lobbycore.PoolStateLost`),
        making the pool if it holds no key; ``create_pool=False`` (a reader that must never
        write, such as a dashboard following a pool) raises :class:`~lobbycore.PoolNotFound`
        instead, writes nothing, and looks again on the next call.

        ``wait_replicas``: durability. Each writing call (joins, leaves, bookings,
        ``set_seats``, sweeps; not the reads) is followed, on the same connection and in the
        same round trip, by ``WAIT wait_replicas wait_timeout``; a call whose write fewer
        replicas acknowledged in time raises :class:`~lobbycore.NotConfirmed` (its result
        attached) instead of returning: it ran on the primary, and may or may not survive a
        failover. 0 (the default) sends no WAIT. On a cluster client, a writing call and its
        WAIT go together on a connection of the primary that owns the call's keys (not
        with an auto-pipeline: ``AsyncLobbyStore(autopipeline=True)``, a transport of one's
        own). The client's ``socket_timeout`` must exceed ``wait_timeout`` (seconds). An
        ACL user needs ``+wait`` besides the store's rules.
        """
        self._wait = check.wait(wait_replicas, wait_timeout)
        self._protocol: PoolProtocol | ShardedProtocol
        if check.shards(shards) == 1:
            self._protocol = PoolProtocol(pool, lobby_ttl, booking_ttl, replay_window)
        else:
            self._protocol = ShardedProtocol(
                pool, lobby_ttl, booking_ttl, replay_window, shards=shards
            )
        self.client = client
        self._allow_eviction = allow_eviction
        self._create_pool = create_pool
        self._server_checked = False
        # Stats key of each (sub-)pool -> the epoch this store learned on its first call.
        self._epochs: dict[str, str] = {}

    def _require_replicas(self) -> None:
        """Hands the durability option to the transport's sender (once it is set)."""
        replicas, timeout_ms = self._wait
        if replicas:
            cluster = self.transport.sender.scripts.cluster
            # Only the per-call drivers send a waiting round to the node of its key; a
            # pipeline of several calls may hold keys of several nodes.
            if cluster and not isinstance(self.transport, (ClientTransport, AsyncClientTransport)):
                raise InvalidInput(
                    "wait_replicas on a Redis Cluster client needs the store's per-call "
                    "transport (AsyncLobbyStore: autopipeline=False, its default there): "
                    "each WAIT must go on the connection of the node that wrote"
                )
            owner = getattr(self.client, "nodes_manager" if cluster else "connection_pool", None)
            kwargs = getattr(owner, "connection_kwargs", {})
            socket_timeout = kwargs.get("socket_timeout")
            if socket_timeout is not None and socket_timeout * 1000 <= timeout_ms:
                raise InvalidInput(
                    f"wait_timeout ({timeout_ms / 1000:g} s) must be shorter than the "
                    f"client's socket_timeout ({socket_timeout:g} s)"
                )
        self.transport.sender.require_replicas(replicas, timeout_ms)

    @property
    def wait_replicas(self) -> int:
        """Replicas each writing call must reach (0: no WAIT)."""
        return self._wait[0]

    @property
    def wait_timeout(self) -> float:
        """Seconds WAIT may block for them."""
        return self._wait[1] / 1000

    @property
    def _scripts(self) -> ScriptSet:
        # The registered scripts (their digests and sources), as benchmarks preload them.
        return self.transport.sender.scripts

    def _with_epoch(self, call: ScriptCall[T]) -> ScriptCall[T]:
        # Every script's ARGV[1] is the epoch, ARGV[2] the highest write sequence seen (a
        # pool found rolled back raises here); common.lua takes both off before the rest.
        key = call.keys[0]
        floor = self.transport.sender.sequences.floor(key)
        return call._replace(args=(self._epochs[key], floor, *call.args))

    def _info_refused(self, exc: ResponseError) -> None:
        """INFO failed: an emulator without INFO is not checked; anything else is refused."""
        if UNKNOWN_COMMAND in str(exc).lower():
            self._server_checked = True
            return
        raise UnsafeServer(
            "cannot read INFO to check the server's version and maxmemory-policy "
            f"({' '.join(str(exc).split()):.120}); grant the ACL user +info"
        ) from None

    def _acl_probe(self, keys: tuple[str, ...]) -> tuple[Any, ...]:
        """The arguments of ``client.eval`` that ask which commands of the scripts (and
        ``wait``, for a store that waits for replicas), and whether the pool's keys, this
        connection's ACL user is denied (Redis 7)."""
        waits = ("wait",) if self.wait_replicas else ()
        return (PROBE, 1, keys[0], *SCRIPT_COMMANDS, *waits)

    @staticmethod
    def _acl_refusal(reply: Any) -> ServerRefused | None:
        """The refusal naming what the ACL user lacks, from the probe's reply; None if it
        lacks nothing (or the server cannot tell). Checked when a store opens, so that a
        missing command fails the first call before any script could stop halfway."""
        found = denied(reply)
        if found is None or (found[0] and not found[1]):
            return None
        keys_ok, commands = found
        detail = "" if keys_ok else f"the user may not use the pool's keys ({KEYS_ACL})"
        return ServerRefused("NOPERM", detail, commands)

    def _note_server(self, info: Any) -> None:
        for node in server_infos(info):
            check_server(node, allow_eviction=self._allow_eviction)
        self._server_checked = True

    @property
    def pool(self) -> str:
        return self._protocol.pool

    @property
    def lobby_ttl(self) -> float | None:
        return self._protocol.lobby_ttl

    @property
    def shards(self) -> int:
        protocol = self._protocol
        return protocol.shards if isinstance(protocol, ShardedProtocol) else 1

    def shard_of(self, user_id: str) -> int:
        """The shard ``user_id`` lives in (always 0 for an unsharded pool)."""
        return shard_of(check.opaque_id(user_id), self.shards)

    def __repr__(self) -> str:
        shards = f", shards={self.shards}" if self.shards > 1 else ""
        if self.wait_replicas:
            shards += f", wait_replicas={self.wait_replicas}, wait_timeout={self.wait_timeout:g}"
        return f"{type(self).__name__}(pool={self.pool!r}, lobby_ttl={self.lobby_ttl!r}{shards})"
