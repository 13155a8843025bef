"""The asyncio store: a thin facade over the sans-IO protocol and its transport."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, TypeVar

from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.exceptions import ResponseError

from ._base import StoreBase
from ._errors import ServerRefused
from ._models import Booking, Lobby, LobbyEvent, PoolStats
from ._pipeline import AutoPipeline
from ._protocol import FanOut, ScriptCall, open_pool
from ._scripts import library
from .defaults import (
    DEFAULT_BOOKING_TTL,
    DEFAULT_EVENT_COUNT,
    DEFAULT_LOBBY_TTL,
    DEFAULT_POOL,
    DEFAULT_REPLAY_WINDOW,
    DEFAULT_SWEEP_LIMIT,
    DEFAULT_WAIT_REPLICAS,
    DEFAULT_WAIT_TIMEOUT,
)
from .transport import AsyncClientTransport
from .typing import AsyncTransport

T = TypeVar("T")

__all__ = ["AsyncLobbyStore"]


class AsyncLobbyStore(StoreBase):
    """The asyncio twin of :class:`LobbyStore`: same methods, same scripts, awaitable.

    ``client`` is a ``redis.asyncio.Redis``, ``redis.asyncio.cluster.RedisCluster`` or
    ``fakeredis.FakeAsyncRedis``. With ``autopipeline`` (the default, except on a cluster
    client with ``wait_replicas``: each WAIT must follow its own write on the node that took
    it) concurrent calls share round trips: calls made while one is in flight go out
    together in the next (on a cluster, one pipeline per primary), each still one atomic
    script.
    """

    transport: AsyncTransport

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
        autopipeline: bool | None = None,
        transport: AsyncTransport | None = None,
    ) -> None:
        """``transport``: how script calls are sent (see :mod:`lobbycore.transport`), in
        place of the one ``autopipeline`` picks; it must talk to the server of ``client``
        (which still runs the one-time open: INFO and the library's load)."""
        if transport is not None and autopipeline is not None:
            raise TypeError("pass autopipeline or transport, not both")
        super().__init__(
            client,
            pool,
            lobby_ttl,
            booking_ttl=booking_ttl,
            replay_window=replay_window,
            shards=shards,
            allow_eviction=allow_eviction,
            create_pool=create_pool,
            wait_replicas=wait_replicas,
            wait_timeout=wait_timeout,
        )
        if transport is None:
            if autopipeline is None:
                autopipeline = not (isinstance(client, AsyncRedisCluster) and wait_replicas)
            transport = AutoPipeline(client) if autopipeline else AsyncClientTransport(client)
        self.transport = transport
        self._require_replicas()
        self._opening: asyncio.Lock | None = None

    async def _run(self, call: ScriptCall[T]) -> T:
        if call.keys[0] not in self._epochs:
            await self._open(call.keys)
        try:
            return await self.transport.send(self._with_epoch(call))
        except ServerRefused as exc:
            if exc.code == "NOPERM" and not exc.commands:  # the server did not say what
                named = await self._acl_check(call.keys)
                if named is not None:
                    raise named from exc
            raise

    async def _open(self, keys: tuple[str, ...]) -> None:
        # Once per store: the server; once per (sub-)pool: its epoch. Concurrent first
        # calls wait for one another rather than each asking.
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if not self._server_checked:
                refused = await self._acl_check(keys)
                if refused is not None:
                    raise refused
                try:
                    info = await self.client.info()
                except ResponseError as exc:
                    self._info_refused(exc)
                else:
                    self._note_server(info)
                self.transport.sender.note_load(await self._load_library())
            if keys[0] not in self._epochs:
                opening = open_pool(keys, create=self._create_pool)
                epoch = await self.transport.send(opening._replace(args=("", *opening.args)))
                self._epochs[keys[0]] = epoch

    async def _acl_check(self, keys: tuple[str, ...]) -> ServerRefused | None:
        try:
            reply = await self.client.eval(*self._acl_probe(keys))
        except ResponseError:  # no EVAL for this user, or no scripting: nothing to tell
            return None
        return self._acl_refusal(reply)

    async def _load_library(self) -> ResponseError | None:
        try:
            await self.client.function_load(library().source)
        except ResponseError as exc:
            return exc
        return None

    async def _run_each(self, plan: ScriptCall[T] | FanOut[T]) -> T:
        # A sharded pool's whole-pool operations: one call per shard, all at once.
        if isinstance(plan, FanOut):
            combined: T = plan.combine(list(await asyncio.gather(*map(self._run, plan.calls))))
            return combined
        return await self._run(plan)

    async def find_or_create_lobby(self, user_id: str, max_users: int) -> Lobby:
        """Put ``user_id`` in the oldest open lobby of capacity ``max_users``, or a new one.

        A user already in a lobby gets that lobby back, whatever ``max_users`` they pass.
        """
        return await self._run(self._protocol.find_or_create_lobby(user_id, max_users))

    async def join_party(self, user_ids: Sequence[str], max_users: int) -> Lobby:
        """Put all of ``user_ids`` together in one lobby, or none of them (``AlreadyInLobby``)."""
        return await self._run(self._protocol.join_party(user_ids, max_users))

    async def leave_lobby(self, user_id: str) -> Lobby | None:
        """Take ``user_id`` out of their lobby; the lobby after the leave, or None."""
        return await self._run(self._protocol.leave_lobby(user_id))

    async def lobby_of(self, user_id: str) -> Lobby | None:
        return await self._run(self._protocol.lobby_of(user_id))

    async def get_lobby(self, lobby_id: str) -> Lobby | None:
        return await self._run(self._protocol.get_lobby(lobby_id))

    async def book_ticket(self, lobby_id: str, request_id: str | None = None) -> Booking:
        """Book the lobby once; a retry with the booking's ``request_id`` gets it again."""
        return await self._run(self._protocol.book_ticket(lobby_id, request_id))

    async def set_seats(self, n: int | None) -> None:
        """Set the seat inventory; None means unlimited (stored as such)."""
        await self._run_each(self._protocol.set_seats(n))

    async def seats_left(self) -> int | None:
        return (await self.stats()).seats_left

    async def stats(self) -> PoolStats:
        return await self._run_each(self._protocol.stats())

    async def sweep_expired(self, limit: int = DEFAULT_SWEEP_LIMIT) -> int:
        """Expire up to ``limit`` lobbies past their deadline, freeing at most
        ``SWEEP_USER_BUDGET`` users past the first lobby; how many were expired (call
        again while it is not 0 to expire them all)."""
        return await self._run_each(self._protocol.sweep_expired(limit))

    async def events(
        self, after: str = "0-0", count: int = DEFAULT_EVENT_COUNT
    ) -> list[LobbyEvent]:
        """Up to ``count`` change events after event id ``after`` (oldest first)."""
        return await self._run_each(self._protocol.events(after, count))
