"""A Locust client for lobbycore: each store call fires Locust's ``request`` event.

This follows Locust's pattern for testing systems other than HTTP: an abstract ``User``
whose ``client`` wraps the real API (here a sync ``LobbyStore`` over redis-py, whose sockets
gevent has patched) and reports every call as a request of type ``lobby``.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from locust import User
from locust.env import Environment

from lobbycore import Booking, Lobby
from lobbycore.typing import SyncStore

from .latency import Latencies
from .state import latencies_of, process_store, settings_of

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


class Request:
    """One store call's report to Locust, fired once as its ``with`` block ends, and its
    latency recorded at µs resolution (``latency.py``) under the same name and value.

    If the block raises an ``Exception``, the call is reported as a failure (response
    length 0) and the exception goes no further: the code after the block runs, so a
    method that returned from inside the block returns its failure value there. A
    ``BaseException`` (a user killed mid-call, Ctrl-C) is not reported and propagates.
    Otherwise the call is a success under ``name``, of ``length``.

    Locust's own ``events.request.measure`` times from its own start (an open-model call
    counts from when it was meant to be sent) and reports a killed user's call as a
    success, hence this.
    """

    __slots__ = ("_fire", "_latencies", "_started", "length", "name")

    def __init__(
        self, fire: Callable[..., Any], latencies: Latencies, name: str, started: float
    ) -> None:
        self._fire = fire
        self._latencies = latencies
        self._started = started
        self.name = name
        self.length = 0

    def __enter__(self) -> Request:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _tb: Any
    ) -> bool:
        if error is not None and not isinstance(error, Exception):
            return False
        elapsed = time.perf_counter() - self._started
        self._latencies.record(self.name, elapsed)
        self._fire(
            request_type=REQUEST_TYPE,
            name=self.name,
            response_time=elapsed * 1000,
            response_length=0 if error is not None else self.length,
            exception=error,
            context={},
        )
        return True


class LobbyClient:
    """Calls the store and reports each call. Failed calls return None (and are reported).

    A join's response length is the number of buyers it newly placed (``placing``: the
    caller knows whether its buyers were already placed), so Locust's totals can be
    compared with the server's own count of placements, exactly.
    """

    def __init__(self, store: SyncStore, environment: Environment) -> None:
        self.store = store
        self._fire = environment.events.request.fire
        self._latencies = latencies_of(environment)

    def _request(self, name: str, started: float | None = None) -> Request:
        started = time.perf_counter() if started is None else started
        return Request(self._fire, self._latencies, name, started)

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
        with self._request(name, started=intended) as call:
            lobby = self.store.find_or_create_lobby(user_id, max_users)
            call.length = placing
            return lobby
        return None

    def party_join(self, user_ids: Sequence[str], max_users: int) -> Lobby | None:
        """A party of new buyers."""
        with self._request("party_join") as call:
            lobby = self.store.join_party(user_ids, max_users)
            call.length = len(user_ids)
            return lobby
        return None

    def leave(self, user_id: str) -> bool:
        """True if the call succeeded (whether or not the user was in a lobby)."""
        with self._request("leave"):
            self.store.leave_lobby(user_id)
            return True
        return False

    def lobby_of(self, user_id: str) -> Lobby | None:
        with self._request("lobby_of"):
            return self.store.lobby_of(user_id)
        return None

    def book(
        self, lobby_id: str, expected: tuple[type[BaseException], ...] = ()
    ) -> Booking | BaseException | None:
        """The Booking; an expected exception (reported under book:<outcome>, the scenario's
        normal path, not an error); None on error."""
        with self._request("book") as call:
            try:
                return self.store.book_ticket(lobby_id)
            except expected as exc:
                call.name = f"book:{outcome_name(exc)}"
                return exc
        return None


class LobbyUser(User):
    """Base of the scenarios: ``self.client`` is a LobbyClient for this process's store."""

    abstract = True
    client: LobbyClient

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self.settings = settings_of(environment)
        self.client = LobbyClient(process_store(environment), environment)
