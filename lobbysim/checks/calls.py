"""What a history checker is given: each call a client made, with its times and its outcome.

An outcome is ``ok`` (an answer), ``fail`` (a refusal, which changed nothing) or ``unknown``
(no answer: a connection error, a timeout or a server error, so it may or may not have
taken effect). :class:`Call` is one call to a lobby service over HTTP, as the client saw
it (:mod:`lobbysim.checks.answers` checks a run of them); :func:`unanswered` says why the
calls without an answer got none.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["CUT_OFF", "FAIL", "OK", "UNKNOWN", "Call", "interned", "unanswered"]

OK, FAIL, UNKNOWN = "ok", "fail", "unknown"


@dataclass(frozen=True, slots=True)
class Call:
    """One call to the service, as the client saw it."""

    kind: str
    """join, party_join, leave, book, get_lobby or lobby_of."""
    users: tuple[str, ...]
    """Whom the call is for: the joining user(s), the leaver, the booker, the reader."""
    invoked: float
    answered: float | None
    """None if no answer came (the outcome is then ``unknown``)."""
    outcome: str
    """``ok``, ``fail`` (a refusal: nothing changed) or ``unknown``."""
    status: int | None = None
    """The HTTP status, if any."""
    lobby_id: str | None = None
    """The lobby answered (joins, reads) or asked for (book, get_lobby)."""
    lobby_users: tuple[str, ...] | None = None
    """The users the answer shows in ``lobby_id`` (a booking's users, for book)."""
    size: int | None = None
    """The lobby's size: the answer's, else the size the join asked for."""
    key: str | None = None
    """book: the idempotency key sent (calls with one key are one booking)."""
    code: str | None = None
    """A refusal's machine-readable code (``already_booked``, ``not_in_lobby``...)."""
    error: str | None = None
    """Why no answer came, for an ``unknown`` call: the connection error (``connection
    refused to 127.0.0.1:8000``), the server error (``HTTP 503``)... None for a call the
    end of the run cut off."""

    @property
    def until(self) -> float:
        """When the call's effect was certainly over (never, for an unanswered call)."""
        return math.inf if self.answered is None else self.answered

    def describe(self) -> str:
        answered = "no answer" if self.answered is None else f"answered {self.answered:.6f}"
        shown = "" if self.lobby_users is None else f" users={list(self.lobby_users)}"
        return (
            f"{self.kind} by {list(self.users)} invoked {self.invoked:.6f} {answered} "
            f"status={self.status} {self.outcome} lobby={self.lobby_id}{shown}"
            + (f" code={self.code}" if self.code else "")
            + (f" error={self.error}" if self.error else "")
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists, not tuples) for JSON or a Locust message."""
        data = dataclasses.asdict(self)
        data["users"] = list(self.users)
        if self.lobby_users is not None:
            data["lobby_users"] = list(self.lobby_users)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Call:
        lobby_users = data.get("lobby_users")
        lobby_id = data.get("lobby_id")
        error = data.get("error")
        return cls(
            **{
                **data,
                "users": interned(data["users"]),
                "lobby_id": None if lobby_id is None else sys.intern(lobby_id),
                "lobby_users": None if lobby_users is None else interned(lobby_users),
                # One string per reason: a run against a closed port repeats it on every call.
                "error": None if error is None else sys.intern(error),
            }
        )


def interned(ids: Iterable[str]) -> tuple[str, ...]:
    """Ids as one shared string each: a history repeats every user and lobby id in many
    answers, and a long run's history is held in memory."""
    return tuple(sys.intern(i) for i in ids)


CUT_OFF = "cut off by the end of the run"
"""Why an unknown call without an ``error`` got no answer: it was in flight at the end."""


def unanswered(calls: Iterable[Call]) -> Counter[str]:
    """Why the calls without an answer got none: each reason (the connection error, the
    server error, the end of the run), with how many calls it left unanswered."""
    return Counter(call.error or CUT_OFF for call in calls if call.outcome == UNKNOWN)
