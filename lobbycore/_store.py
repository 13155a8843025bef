"""The synchronous store: a thin facade over the sans-IO protocol and its transport."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, TypeVar

from redis.exceptions import ResponseError

from ._base import StoreBase
from ._errors import ServerRefused
from ._models import Booking, Lobby, LobbyEvent, PoolStats
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
from .transport import ClientTransport
from .typing import Transport

T = TypeVar("T")

__all__ = ["LobbyStore"]


class LobbyStore(StoreBase):
    """A lobby pool on Redis. Every method is one atomic script run in one round trip.

    ``client`` is a ``redis.Redis``, ``redis.cluster.RedisCluster`` or fakeredis client,
    with ``decode_responses`` True or False. ``shards=N`` splits the pool over N hash tags.
    Operations are sent by FCALL of lobbycore's function library (loaded by the first
    call), or by EVALSHA where the server has no functions; if the server lost them
    (function not found, NOSCRIPT), the call is sent again as EVAL with the source, which
    cannot fail that way, and the library is loaded again (:mod:`lobbycore.transport`).
    Every script is safe to replay, so redis-py's retries on connection errors cannot
    double a join or a booking.
    """

    transport: Transport

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
        transport: Transport | None = None,
    ) -> None:
        """``transport``: how script calls are sent (see :mod:`lobbycore.transport`); the
        default, :class:`~lobbycore.transport.ClientTransport`, sends each on its own
        through ``client``. One given must talk to the server of ``client`` (which still
        runs the one-time open: INFO and the library's load)."""
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
        self.transport = transport if transport is not None else ClientTransport(client)
        self._require_replicas()
        self._opening = threading.Lock()

    def _run(self, call: ScriptCall[T]) -> T:
        if call.keys[0] not in self._epochs:
            self._open(call.keys)
        try:
            return self.transport.send(self._with_epoch(call))
        except ServerRefused as exc:
            if exc.code == "NOPERM" and not exc.commands:  # the server did not say what
                named = self._acl_check(call.keys)
                if named is not None:
                    raise named from exc
            raise

    def _open(self, keys: tuple[str, ...]) -> None:
        # Once per store: the server; once per (sub-)pool: its epoch. Concurrent first
        # calls (threads, greenlets) wait for one another rather than each asking.
        with self._opening:
            if not self._server_checked:
                refused = self._acl_check(keys)
                if refused is not None:
                    raise refused
                try:
                    info = self.client.info()
                except ResponseError as exc:
                    self._info_refused(exc)
                else:
                    self._note_server(info)
                self.transport.sender.note_load(self._load_library())
            if keys[0] not in self._epochs:
                opening = open_pool(keys, create=self._create_pool)
                epoch = self.transport.send(opening._replace(args=("", *opening.args)))
                self._epochs[keys[0]] = epoch

    def _acl_check(self, keys: tuple[str, ...]) -> ServerRefused | None:
        try:
            reply = self.client.eval(*self._acl_probe(keys))
        except ResponseError:  # no EVAL for this user, or no scripting: nothing to tell
            return None
        return self._acl_refusal(reply)

    def _load_library(self) -> ResponseError | None:
        try:
            self.client.function_load(library().source)
        except ResponseError as exc:
            return exc
        return None

    def _run_each(self, plan: ScriptCall[T] | FanOut[T]) -> T:
        # A sharded pool's whole-pool operations: one call per shard, one after the other.
        if isinstance(plan, FanOut):
            results: list[Any] = [self._run(call) for call in plan.calls]
            combined: T = plan.combine(results)
            return combined
        return self._run(plan)

    def find_or_create_lobby(self, user_id: str, max_users: int) -> Lobby:
        """Put ``user_id`` in the oldest open lobby of capacity ``max_users``, or a new one.

        A user already in a lobby gets that lobby back, whatever ``max_users`` they pass.
        """
        return self._run(self._protocol.find_or_create_lobby(user_id, max_users))

    def join_party(self, user_ids: Sequence[str], max_users: int) -> Lobby:
        """Put all of ``user_ids`` together in one lobby, or none of them (``AlreadyInLobby``)."""
        return self._run(self._protocol.join_party(user_ids, max_users))

    def leave_lobby(self, user_id: str) -> Lobby | None:
        """Take ``user_id`` out of their lobby; the lobby after the leave, or None."""
        return self._run(self._protocol.leave_lobby(user_id))

    def lobby_of(self, user_id: str) -> Lobby | None:
        return self._run(self._protocol.lobby_of(user_id))

    def get_lobby(self, lobby_id: str) -> Lobby | None:
        return self._run(self._protocol.get_lobby(lobby_id))

    def book_ticket(self, lobby_id: str, request_id: str | None = None) -> Booking:
        """Book the lobby once; a retry with the booking's ``request_id`` gets it again."""
        return self._run(self._protocol.book_ticket(lobby_id, request_id))

    def set_seats(self, n: int | None) -> None:
        """Set the seat inventory; None means unlimited (stored as such)."""
        self._run_each(self._protocol.set_seats(n))

    def seats_left(self) -> int | None:
        return self.stats().seats_left

    def stats(self) -> PoolStats:
        return self._run_each(self._protocol.stats())

    def sweep_expired(self, limit: int = DEFAULT_SWEEP_LIMIT) -> int:
        """Expire up to ``limit`` lobbies past their deadline, freeing at most
        ``SWEEP_USER_BUDGET`` users past the first lobby; how many were expired (call
        again while it is not 0 to expire them all)."""
        return self._run_each(self._protocol.sweep_expired(limit))

    def events(self, after: str = "0-0", count: int = DEFAULT_EVENT_COUNT) -> list[LobbyEvent]:
        """Up to ``count`` change events after event id ``after`` (oldest first)."""
        return self._run_each(self._protocol.events(after, count))
