"""The synchronous store: a thin facade over the sans-IO protocol and the script set."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from redis.exceptions import NoScriptError

from ._base import StoreBase
from ._models import Booking, Lobby, LobbyEvent, PoolStats
from ._protocol import DEFAULT_SWEEP_LIMIT, FanOut, ScriptCall

T = TypeVar("T")

__all__ = ["LobbyStore"]


class LobbyStore(StoreBase):
    """A lobby pool on Redis. Every method is one atomic script run in one round trip.

    ``client`` is a ``redis.Redis``, ``redis.cluster.RedisCluster`` or fakeredis client,
    with ``decode_responses`` True or False. ``shards=N`` splits the pool over N hash tags.
    Scripts are sent by EVALSHA; if the server lost them (NOSCRIPT), the call is sent
    again as EVAL with the source, which cannot fail that way and caches the script again.
    Every script is safe to replay, so redis-py's retries on connection errors cannot
    double a join or a booking.
    """

    def _run(self, call: ScriptCall[T]) -> T:
        script = self._scripts[call.script]
        try:
            # EVALSHA straight from the client: one call layer less than Script.__call__.
            reply = self.client.evalsha(script.sha, len(call.keys), *call.keys, *call.args)
        except NoScriptError:
            # The server lost its script cache (restart, SCRIPT FLUSH). EVAL rather than
            # load-then-EVALSHA: another flush in between could not make it fail again.
            reply = self.client.eval(script.script, len(call.keys), *call.keys, *call.args)
        return call.parse(reply)

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
        """Set the seat inventory; None means unlimited."""
        self._run_each(self._protocol.set_seats(n))

    def seats_left(self) -> int | None:
        return self.stats().seats_left

    def stats(self) -> PoolStats:
        return self._run_each(self._protocol.stats())

    def sweep_expired(self, limit: int = DEFAULT_SWEEP_LIMIT) -> int:
        """Expire up to ``limit`` lobbies past their deadline; how many were expired."""
        return self._run_each(self._protocol.sweep_expired(limit))

    def events(self, after: str = "0-0", count: int = 100) -> list[LobbyEvent]:
        """Up to ``count`` change events after event id ``after`` (oldest first)."""
        return self._run_each(self._protocol.events(after, count))
