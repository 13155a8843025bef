"""A Locust client for lobbycore: each store call fires Locust's ``request`` event.

This follows Locust's pattern for testing systems other than HTTP: an abstract ``User``
whose ``client`` wraps the real API (here a sync ``LobbyStore`` over redis-py, whose sockets
gevent has patched) and reports every call as a request of type ``lobby``.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from locust import User
from locust.env import Environment

from lobbycore import Booking, Lobby

T = TypeVar("T")
REQUEST_TYPE = "lobby"


def outcome_name(exc: BaseException) -> str:
    """AlreadyBooked -> already_booked: the suffix of an expected outcome's request name."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()


def new_buyer_id() -> str:
    """Unique across processes and machines, so distributed runs never share a buyer."""
    return f"buyer-{uuid.uuid4().hex[:20]}"


def new_party_ids(store: Any, size: int) -> list[str]:
    """``size`` new buyer ids for a party. On a sharded pool a party must share a shard, so
    the members are drawn until they do, as an application forming parties would do with
    ``LobbyStore.shard_of``."""
    first = new_buyer_id()
    if getattr(store, "shards", 1) == 1:
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

    A join's response length is the number of buyers it newly placed (0 for a repeated join
    of someone already placed), so Locust's totals can be compared with the server's own
    count of placements, exactly.
    """

    def __init__(self, store: Any, environment: Environment) -> None:
        self.store = store
        self._fire = environment.events.request.fire
        self._placed: set[str] = set()

    def _call(
        self,
        name: str,
        operation: Callable[[], T],
        expected: tuple[type[BaseException], ...] = (),
        length: Callable[[T], int] | None = None,
        intended: float | None = None,
    ) -> T | BaseException | None:
        """``intended``: the perf_counter time the call was scheduled for (open model); the
        response time then counts from it, queueing delay included."""
        started = time.perf_counter()
        result: T | BaseException | None = None
        error: BaseException | None = None
        label = name
        size = 0
        try:
            value = operation()
            result = value
            size = length(value) if length is not None else 0
        except expected as exc:  # the scenario's normal path: its own name, not an error
            label, result = f"{name}:{outcome_name(exc)}", exc
        except Exception as exc:
            error = exc
        self._fire(
            request_type=REQUEST_TYPE,
            name=label,
            response_time=(time.perf_counter() - (started if intended is None else intended))
            * 1000,
            response_length=size,
            exception=error,
            context={},
        )
        return result

    def _placing(self, user_ids: Sequence[str]) -> Callable[[Lobby], int]:
        fresh = [u for u in user_ids if u not in self._placed]

        def count(_lobby: Lobby) -> int:
            self._placed.update(fresh)
            return len(fresh)

        return count

    def join(
        self, user_id: str, max_users: int, intended: float | None = None, name: str = "join"
    ) -> Lobby | None:
        result = self._call(
            name,
            lambda: self.store.find_or_create_lobby(user_id, max_users),
            length=self._placing([user_id]),
            intended=intended,
        )
        return result if isinstance(result, Lobby) else None

    def party_join(self, user_ids: Sequence[str], max_users: int) -> Lobby | None:
        result = self._call(
            "party_join",
            lambda: self.store.join_party(user_ids, max_users),
            length=self._placing(user_ids),
        )
        return result if isinstance(result, Lobby) else None

    def leave(self, user_id: str) -> bool:
        """True if the call succeeded (whether or not the user was in a lobby)."""
        marker = object()
        result = self._call("leave", lambda: self.store.leave_lobby(user_id) or marker)
        if result is not None and not isinstance(result, BaseException):
            self._placed.discard(user_id)
        return result is not None

    def lobby_of(self, user_id: str) -> Lobby | None:
        result = self._call("lobby_of", lambda: self.store.lobby_of(user_id))
        return result if isinstance(result, Lobby) else None

    def book(
        self, lobby_id: str, expected: tuple[type[BaseException], ...] = ()
    ) -> Booking | BaseException | None:
        """The Booking; an expected exception (reported under book:<outcome>); None on error."""
        result = self._call("book", lambda: self.store.book_ticket(lobby_id), expected)
        if isinstance(result, Booking):
            self._placed.difference_update(result.users)
        return result


class LobbyUser(User):
    """Base of the scenarios: ``self.client`` is a LobbyClient for this process's store."""

    abstract = True
    client: LobbyClient

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        from .runtime import process_store, settings_of

        self.settings = settings_of(environment)
        self.client = LobbyClient(process_store(environment), environment)
