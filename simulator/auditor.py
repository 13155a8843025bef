"""The live auditor: compares what each join returned with what the store holds.

Simulated buyers join once and never come back after leaving or booking, so a user can
never legitimately move between lobbies; that lets reads of the pool that are not atomic
(one key after the other, while buyers keep joining) be checked without false alarms,
as long as users and lobbies with an operation in flight are left out of the comparison.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from lobbycore import Booking, Lobby
from lobbycore.violations import LIVE_CHECKS, Checked, Finding, Verdict, Violation

KINDS = LIVE_CHECKS
"""What the live auditor can see, in the order the dashboard lists them."""


@dataclass
class LiveAuditor:
    belief: dict[str, str] = field(default_factory=dict)
    """user -> the lobby their join returned (until they leave or are booked)."""
    version: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    """user or lobby id -> bumped at the start and end of each of its operations."""
    busy: set[str] = field(default_factory=set)
    booked: dict[str, Booking] = field(default_factory=dict)
    found: dict[tuple[Violation, str], Finding] = field(default_factory=dict)
    """(kind, subject: a user or lobby id) -> the finding: each violation counted once."""
    red_lobbies: defaultdict[str, set[Violation]] = field(default_factory=lambda: defaultdict(set))
    """lobby id -> the guarantees it was found breaking (its card names them)."""
    unreported: list[str] = field(default_factory=list)
    answers: int = 0
    """Answers compared (joins and bookings)."""
    reads: int = 0
    """Reads of the pool compared."""

    @property
    def violations(self) -> int:
        return len(self.found)

    def counts(self) -> dict[Violation, int]:
        counts = dict.fromkeys(KINDS, 0)
        for kind, _subject in self.found:
            counts[kind] += 1
        return counts

    def verdict(self) -> Verdict:
        """What the auditor found so far, over the answers and reads it compared (none yet:
        a verdict over nothing, not ok)."""
        return Verdict(
            tuple(self.found.values()),
            Checked(
                KINDS,
                "answers and reads",
                self.answers + self.reads,
                {"answers": self.answers, "reads": self.reads},
            ),
        )

    def _flag(
        self, kind: Violation, subject: str, detail: str, lobbies: Iterable[str] = ()
    ) -> None:
        lobbies = tuple(lobbies)
        if (kind, subject) not in self.found:
            user = None if subject in lobbies else subject
            finding = Finding(kind, detail, lobby_id=lobbies[0] if lobbies else None, user_id=user)
            self.found[(kind, subject)] = finding
            self.unreported.append(str(finding))
        for lobby_id in lobbies:
            self.red_lobbies[lobby_id].add(kind)

    def start(self, *subjects: str) -> None:
        for subject in subjects:
            self.busy.add(subject)
            self.version[subject] += 1

    def end(self, *subjects: str) -> None:
        for subject in subjects:
            self.busy.discard(subject)
            self.version[subject] += 1

    def joined(self, users: Iterable[str], lobby: Lobby) -> None:
        users = tuple(users)
        self.answers += 1
        for user in users:
            self.belief[user] = lobby.id
        if lobby.max_users and len(lobby.users) > lobby.max_users:
            self._flag(
                Violation.OVER_CAPACITY,
                lobby.id,
                f"lobby {lobby.id[-6:]} returned with {len(lobby.users)}/{lobby.max_users}",
                [lobby.id],
            )
        for user in users:
            if user not in lobby.users:
                self._flag(
                    Violation.LOST_JOIN,
                    user,
                    f"{user} joined {lobby.id[-6:]} but is not in it",
                    [lobby.id],
                )

    def left(self, user: str) -> None:
        self.belief.pop(user, None)

    def booked_ok(self, booking: Booking) -> None:
        lid = booking.lobby_id
        self.answers += 1
        first = self.booked.get(lid)
        if first is not None and first.request_id != booking.request_id:
            self._flag(Violation.DOUBLE_BOOKING, lid, f"lobby {lid[-6:]} booked twice", [lid])
        self.booked.setdefault(lid, booking)
        believers = {u for u, told in self.belief.items() if told == lid and u not in self.busy}
        for user in believers - set(booking.users):
            self._flag(
                Violation.LOST_JOIN,
                user,
                f"{user} was told lobby {lid[-6:]}, its booking left them out",
                [lid],
            )
        for user in booking.users:
            told = self.belief.get(user)
            if told is not None and told != lid and user not in self.busy:
                self._flag(
                    Violation.USER_IN_TWO_LOBBIES,
                    user,
                    f"{user} (told {told[-6:]}) was booked in {lid[-6:]}",
                    [lid, told],
                )
        for user in booking.users:
            if self.belief.get(user) == lid:
                del self.belief[user]

    def versions(self) -> dict[str, int]:
        return dict(self.version)

    def check(self, lobbies: dict[str, Lobby], before: dict[str, int]) -> None:
        """Compare a read of the pool, started when the versions were ``before``."""
        self.reads += 1

        def steady(subject: str) -> bool:
            return subject not in self.busy and self.version.get(subject, 0) == before.get(
                subject, 0
            )

        where: defaultdict[str, list[str]] = defaultdict(list)
        for lobby in lobbies.values():
            if lobby.max_users and len(lobby.users) > lobby.max_users:
                self._flag(
                    Violation.OVER_CAPACITY,
                    lobby.id,
                    f"lobby {lobby.id[-6:]} holds {len(lobby.users)}/{lobby.max_users}",
                    [lobby.id],
                )
            for user in lobby.users:
                where[user].append(lobby.id)
        for user, lobby_ids in where.items():
            if len(lobby_ids) > 1 and steady(user):
                self._flag(
                    Violation.USER_IN_TWO_LOBBIES,
                    user,
                    f"{user} is in {len(lobby_ids)} lobbies",
                    lobby_ids,
                )
        for user, lid in self.belief.items():
            if not (steady(user) and steady(lid)) or lid not in lobbies:
                continue  # in flight, or the lobby is gone (booked or expired): nothing to compare
            if user not in lobbies[lid].users:
                self._flag(
                    Violation.LOST_JOIN,
                    user,
                    f"{user} was told lobby {lid[-6:]} but is not in it",
                    [lid],
                )
            for other in where.get(user, ()):
                if other != lid:
                    self._flag(
                        Violation.USER_IN_TWO_LOBBIES,
                        user,
                        f"{user} (told {lid[-6:]}) is also in {other[-6:]}",
                        [lid, other],
                    )

    def drain(self) -> list[str]:
        lines, self.unreported = self.unreported, []
        return lines
