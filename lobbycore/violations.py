"""The one vocabulary of broken guarantees, and the records every checker reports in.

Every checker (the pool audit, the history checkers over Python calls and over HTTP answers,
the dashboard's live auditor, the Locust end-of-run audit, ``lobbysim race``'s table) names
what it found with a :class:`Violation`, reports each broken guarantee as a :class:`Finding`
and returns (or can give) one :class:`Verdict`, so a count in one tool means the same as in
another. A finding that carries the calls showing it is a counter-example.

Violations are ``str``: they print and serialize as their value (``over_capacity``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class Violation(StrEnum):
    OVER_CAPACITY = "over_capacity"
    """A lobby holds more users than the size it was created with."""
    USER_IN_TWO_LOBBIES = "user_in_two_lobbies"
    """One user is in two lobbies at once (or in two indexes' worth)."""
    LOST_JOIN = "lost_join"
    """A join was answered with lobby L, and the user is not in L (no leave, booking or expiry since)."""
    LOST_LEAVE = "lost_leave"
    """A leave was answered, and the user is still in a lobby."""
    DOUBLE_BOOKING = "double_booking"
    """One lobby was booked by two different calls."""
    LOST_BOOKING = "lost_booking"
    """A booking was answered, and it is not in the bookings stream."""
    INDEX_MISMATCH = "index_mismatch"
    """The pool's derived state disagrees with its lobbies and bookings: an index (user,
    open, room, expiry) or a stats counter (each counter is an index of a count)."""
    OVERSELL = "oversell"
    """More seats were sold than the inventory held."""
    UNEXPLAINED_PARTIAL_LOBBIES = "unexplained_partial_lobbies"
    """More lobbies are left not full than the run's leaves and party joins explain."""


LIVE_CHECKS: tuple[Violation, ...] = (
    Violation.USER_IN_TWO_LOBBIES,
    Violation.OVER_CAPACITY,
    Violation.LOST_JOIN,
    Violation.DOUBLE_BOOKING,
)
"""What can be seen while a pool is in use, from answers and reads alone: the dashboard's
live auditor counts these, and ``lobbysim race``'s table shows them, in this order."""


class Shown(Protocol):
    """A call a counter-example shows (a history checker's record of one call)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain data, for JSON."""

    def describe(self) -> str:
        """One line for people: what was called, when, and what it answered."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One broken guarantee: which, what was seen, where, and (for a counter-example) the
    calls that show it."""

    violation: Violation
    detail: str
    lobby_id: str | None = None
    """The lobby it was seen in, when one lobby is concerned."""
    user_id: str | None = None
    """The user it concerns, when one user is concerned."""
    calls: tuple[Shown, ...] = ()
    """The calls that show it, with their times and answers (history checkers)."""

    def __str__(self) -> str:
        return f"{self.violation}: {self.detail}"

    def to_dict(self) -> dict[str, Any]:
        """Plain data, for a result file: kind, detail, lobby_id, user_id, calls."""
        return {
            "kind": str(self.violation),
            "detail": self.detail,
            "lobby_id": self.lobby_id,
            "user_id": self.user_id,
            "calls": [call.to_dict() for call in self.calls],
        }


@dataclass
class Findings:
    """The findings of one check, as it makes them: ``found(kind, detail, *calls, lobby_id=,
    user_id=)`` records one (the calls that show it, for a counter-example)."""

    findings: list[Finding] = field(default_factory=list)

    def __call__(
        self,
        kind: Violation,
        detail: str,
        *calls: Shown,
        lobby_id: str | None = None,
        user_id: str | None = None,
    ) -> None:
        self.findings.append(Finding(kind, detail, lobby_id=lobby_id, user_id=user_id, calls=calls))


@dataclass(frozen=True, slots=True)
class Checked:
    """What a verdict covers: which guarantees, over what, and how much of it."""

    guarantees: tuple[Violation, ...]
    """The guarantees looked for (a summary counts each, in this order)."""
    what: str
    """What was examined: ``pool``, ``calls``, ``operations``, ``answers and reads``."""
    count: int
    """How many of ``what`` were examined. 0 means nothing was checked: see
    :attr:`Verdict.checked_nothing`."""
    figures: Mapping[str, int] = field(default_factory=dict)
    """Counts of what was examined, in the order a summary shows them (``lobbies``,
    ``waiting``, ``bookings``; ``calls``, ``unknown``)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a checker concluded: the broken guarantees it found, and what it checked.

    A verdict over nothing (no guarantee looked for, or nothing examined: a pool with no key,
    a run with no call) is not ok, whatever it found: absence of findings is only a pass
    when something could have produced one.
    """

    findings: tuple[Finding, ...]
    checked: Checked

    @property
    def checked_nothing(self) -> bool:
        return self.checked.count == 0 or not self.checked.guarantees

    @property
    def ok(self) -> bool:
        """Something was checked, and no guarantee was found broken."""
        return not self.findings and not self.checked_nothing

    @property
    def figures(self) -> Mapping[str, int]:
        return self.checked.figures

    def counts(self) -> Counter[Violation]:
        """Findings per violation."""
        return Counter(finding.violation for finding in self.findings)

    def summary(self, kinds: Iterable[Violation] | None = None, *, figures: bool = True) -> str:
        """One line of key=value pairs: ``ok``, ``violations`` (the findings), a count for
        each guarantee checked (or each of ``kinds``), the figures (unless ``figures`` is
        false), and ``checked=nothing`` at the end when nothing was."""
        counts = self.counts()
        parts = [
            f"ok={str(self.ok).lower()}",
            f"violations={len(self.findings)}",
            *(
                f"{kind}={counts.get(kind, 0)}"
                for kind in (self.checked.guarantees if kinds is None else kinds)
            ),
        ]
        if figures:
            parts += [f"{name}={value}" for name, value in self.checked.figures.items()]
        if self.checked_nothing:
            parts.append("checked=nothing")
        return " ".join(parts)
