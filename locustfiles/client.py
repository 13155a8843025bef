"""A Locust client for lobbycore: each store call fires Locust's ``request`` event.

This follows Locust's pattern for testing systems other than HTTP: an abstract ``User``
whose ``client`` wraps the real API (here a sync ``LobbyStore`` over redis-py, whose sockets
gevent has patched) and reports every call as a request of type ``lobby``.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Sequence

from locust import User
from locust.env import Environment

from lobbycore import Booking, Lobby
from lobbycore.typing import SyncStore

REQUEST_TYPE = "lobby"


def outcome_name(exc: BaseException) -> str:
    """AlreadyBooked -> already_booked: the suffix of an expected outcome's request name."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()


def new_buyer_id() -> str:
    """Unique across processes and machines, so distributed runs never share a buyer: 80
    random bits (Python reseeds ``random`` in every forked process)."""
    return f"buyer-{random.getrandbits(80):020x}"


def new_party_ids(store: SyncStore, size: int) -> list[str]:
    """``size`` new buyer ids for a party. On a sharded pool a party must share a shard, so
    the members are drawn until they do, as an application forming parties would do with
    ``LobbyStore.shard_of``."""
    first = new_buyer_id()
    if store.shards == 1:
        return [first, *(new_buyer_id() for _ in range(size - 1))]
    shard = store.shard_of(first)
    party = [first]
    while len(party) < size:
        candidate = new_buyer_id()
        if store.shard_of(candidate) == shard:
            party.append(candidate)
    return party


class LobbyClient:
    """Calls the store and reports each call. Failed calls return None (and are reported).

    A join's response length is the number of buyers it newly placed (``placing``: the
    caller knows whether its buyers were already placed), so Locust's totals can be
    compared with the server's own count of placements, exactly.
    """

    def __init__(self, store: SyncStore, environment: Environment) -> None:
        self.store = store
        self._fire = environment.events.request.fire

    def _report(self, name: str, started: float, length: int, error: BaseException | None) -> None:
        self._fire(
            request_type=REQUEST_TYPE,
            name=name,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=length,
            exception=error,
            context={},
        )

    def join(
        self,
        user_id: str,
        max_users: int,
        intended: float | None = None,
        name: str = "join",
        placing: int = 1,
    ) -> Lobby | None:
        """``intended``: the perf_counter time the call was scheduled for (open model); the
        response time then counts from it, queueing delay included. ``placing``: 0 if the
        buyer is already in a lobby (the join then places nobody)."""
        started = time.perf_counter() if intended is None else intended
        try:
            lobby: Lobby = self.store.find_or_create_lobby(user_id, max_users)
        except Exception as exc:
            self._report(name, started, 0, exc)
            return None
        self._report(name, started, placing, None)
        return lobby

    def party_join(self, user_ids: Sequence[str], max_users: int) -> Lobby | None:
        """A party of new buyers."""
        started = time.perf_counter()
        try:
            lobby: Lobby = self.store.join_party(user_ids, max_users)
        except Exception as exc:
            self._report("party_join", started, 0, exc)
            return None
        self._report("party_join", started, len(user_ids), None)
        return lobby

    def leave(self, user_id: str) -> bool:
        """True if the call succeeded (whether or not the user was in a lobby)."""
        started = time.perf_counter()
        try:
            self.store.leave_lobby(user_id)
        except Exception as exc:
            self._report("leave", started, 0, exc)
            return False
        self._report("leave", started, 0, None)
        return True

    def lobby_of(self, user_id: str) -> Lobby | None:
        started = time.perf_counter()
        try:
            lobby: Lobby | None = self.store.lobby_of(user_id)
        except Exception as exc:
            self._report("lobby_of", started, 0, exc)
            return None
        self._report("lobby_of", started, 0, None)
        return lobby

    def book(
        self, lobby_id: str, expected: tuple[type[BaseException], ...] = ()
    ) -> Booking | BaseException | None:
        """The Booking; an expected exception (reported under book:<outcome>, the scenario's
        normal path, not an error); None on error."""
        started = time.perf_counter()
        try:
            booking: Booking = self.store.book_ticket(lobby_id)
        except expected as exc:
            self._report(f"book:{outcome_name(exc)}", started, 0, None)
            return exc
        except Exception as exc:
            self._report("book", started, 0, exc)
            return None
        self._report("book", started, 0, None)
        return booking


class LobbyUser(User):
    """Base of the scenarios: ``self.client`` is a LobbyClient for this process's store."""

    abstract = True
    client: LobbyClient

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        from .runtime import process_store, settings_of

        self.settings = settings_of(environment)
        self.client = LobbyClient(process_store(environment), environment)
