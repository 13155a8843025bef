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


class LobbyClient:
    """Calls the store and reports each call. Failed calls return None (and are reported)."""

    def __init__(self, store: Any, environment: Environment) -> None:
        self.store = store
        self._fire = environment.events.request.fire

    def _call(
        self,
        name: str,
        operation: Callable[[], T],
        expected: tuple[type[BaseException], ...] = (),
    ) -> T | BaseException | None:
        started = time.perf_counter()
        result: T | BaseException | None = None
        error: BaseException | None = None
        label = name
        try:
            result = operation()
        except expected as exc:  # the scenario's normal path: its own name, not an error
            label, result = f"{name}:{outcome_name(exc)}", exc
        except Exception as exc:
            error = exc
        self._fire(
            request_type=REQUEST_TYPE,
            name=label,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            exception=error,
            context={},
        )
        return result

    def join(self, user_id: str, max_users: int) -> Lobby | None:
        result = self._call("join", lambda: self.store.find_or_create_lobby(user_id, max_users))
        return result if isinstance(result, Lobby) else None

    def party_join(self, user_ids: Sequence[str], max_users: int) -> Lobby | None:
        result = self._call("party_join", lambda: self.store.join_party(user_ids, max_users))
        return result if isinstance(result, Lobby) else None

    def leave(self, user_id: str) -> bool:
        """True if the call succeeded (whether or not the user was in a lobby)."""
        marker = object()
        result = self._call("leave", lambda: self.store.leave_lobby(user_id) or marker)
        return result is not None

    def lobby_of(self, user_id: str) -> Lobby | None:
        result = self._call("lobby_of", lambda: self.store.lobby_of(user_id))
        return result if isinstance(result, Lobby) else None

    def book(
        self, lobby_id: str, expected: tuple[type[BaseException], ...] = ()
    ) -> Booking | BaseException | None:
        """The Booking; an expected exception (reported under book:<outcome>); None on error."""
        return self._call("book", lambda: self.store.book_ticket(lobby_id), expected)


class LobbyUser(User):
    """Base of the scenarios: ``self.client`` is a LobbyClient for this process's store."""

    abstract = True
    client: LobbyClient

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        from .runtime import process_store, settings_of

        self.settings = settings_of(environment)
        self.client = LobbyClient(process_store(environment), environment)
