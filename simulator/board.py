"""What the dashboard shows of a pool: one card per lobby, lobbies filling first.

Fed by operation results (demo), by the pool's event stream (watch) and by periodic reads
of the pool; the widgets only read it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from lobbycore import Lobby, LobbyEvent
from lobbycore.violations import Violation

FILLING, FULL, BOOKING, BOOKED, EXPIRED = "filling", "full", "booking", "booked", "expired"
STATES = (FILLING, FULL, BOOKING, BOOKED, EXPIRED)
"""A lobby's life, in order; also the order cards are drawn in (what a viewer came to see
first: lobbies filling)."""
LINGER_SECONDS = 2.0  # booked and expired cards stay on screen this long
VIOLATED_LINGER_SECONDS = 10.0  # a red one longer: a broken guarantee must be seen


@dataclass
class LobbyCard:
    id: str
    max_users: int
    users: tuple[str, ...] = ()
    created_at: int = 0
    """ms since the epoch (the server's clock); 0 until a read or a `created` event gives it."""
    state: str = FILLING
    violated: bool = False
    broke: tuple[Violation, ...] = ()
    """The guarantees the live auditor found this lobby breaking, in Violation's order
    (empty when only told that it broke one)."""
    ended: float | None = None
    """monotonic time the lobby was booked or expired."""
    updated: float = 0.0
    """monotonic time of the last change, to tell fresh news from an older read of the pool."""

    @property
    def short_id(self) -> str:
        return self.id[-6:]

    @property
    def is_full(self) -> bool:
        return len(self.users) >= self.max_users


@dataclass
class Board:
    cards: dict[str, LobbyCard] = field(default_factory=dict)
    version: int = 0
    """Counts the calls that may have changed a card: a reader that saw this version has
    nothing new to draw while it stays the same."""

    def upsert(self, lobby: Lobby) -> LobbyCard:
        self.version += 1
        card = self.cards.get(lobby.id)
        if card is None:
            card = self.cards[lobby.id] = LobbyCard(
                lobby.id, lobby.max_users, created_at=lobby.created_at
            )
        card.users = lobby.users
        card.max_users = lobby.max_users or card.max_users
        card.created_at = card.created_at or lobby.created_at
        if card.state in (FILLING, FULL):
            card.state = FULL if card.is_full else FILLING
        return card

    def set_state(self, lobby_id: str, state: str) -> None:
        self.version += 1
        card = self.cards.get(lobby_id)
        if card is None:
            return
        card.state = state
        if state in (BOOKED, EXPIRED):
            card.ended = time.monotonic()

    def remove(self, lobby_id: str) -> None:
        self.version += 1
        self.cards.pop(lobby_id, None)

    def mark_violated(self, lobbies: Mapping[str, Iterable[Violation]] | Iterable[str]) -> None:
        """Turn these lobbies' cards red; given lobby id -> guarantees broken, they name them."""
        self.version += 1
        for lobby_id in lobbies:
            card = self.cards.get(lobby_id)
            if card is None:
                continue
            card.violated = True
            if isinstance(lobbies, Mapping):
                broke = {*card.broke, *lobbies[lobby_id]}
                card.broke = tuple(v for v in Violation if v in broke)

    def sync(self, lobbies: dict[str, Lobby], read_started: float) -> None:
        """Make live cards match a read of the pool that started at ``read_started``.

        Cards changed since then keep their fresher state; booked and expired cards linger.
        """
        self.version += 1
        for lobby in lobbies.values():
            card = self.cards.get(lobby.id)
            if card is None or card.updated < read_started:
                self.upsert(lobby)
            else:
                # Fresher users and state, but a size and creation time never change: a
                # card first seen by an event in mid-life gets its age from the read.
                card.max_users = card.max_users or lobby.max_users
                card.created_at = card.created_at or lobby.created_at
        for lobby_id, card in list(self.cards.items()):
            if (
                lobby_id not in lobbies
                and card.state in (FILLING, FULL)
                and card.updated < read_started
            ):
                del self.cards[lobby_id]

    def prune(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        for lobby_id, card in list(self.cards.items()):
            linger = VIOLATED_LINGER_SECONDS if card.violated else LINGER_SECONDS
            if card.ended is not None and now - card.ended > linger:
                del self.cards[lobby_id]
                self.version += 1

    def ordered(self) -> list[LobbyCard]:
        """The cards in the order they are drawn, so that a screen with room for a few shows
        what is happening: by state in STATES order (filling, full, booking, booked,
        expired), red cards first within a state, then the newest first (created last, or
        booked or expired last). A card thus moves forward as its lobby goes through its
        life, and the booked ones at the end are those that leave the grid next."""
        newest_first = sorted(
            self.cards.values(),
            key=lambda c: (c.ended or 0.0, c.created_at, c.id),
            reverse=True,
        )
        rank = {state: index for index, state in enumerate(STATES)}
        return sorted(newest_first, key=lambda c: (rank[c.state], not c.violated))

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATES, 0)
        for card in self.cards.values():
            counts[card.state] += 1
        return counts

    def waiting_users(self) -> int:
        return sum(len(c.users) for c in self.cards.values() if c.state in (FILLING, FULL, BOOKING))

    def clear(self) -> None:
        self.version += 1
        self.cards.clear()

    def apply(self, event: LobbyEvent) -> None:
        """Follow the pool's change stream (``lobbysim watch``)."""
        self.version += 1
        card = self.cards.get(event.lobby_id)
        if card is None:
            if event.type not in ("created", "joined", "full"):
                return  # news of a lobby we never saw: nothing to draw
            # Only a `created` event dates the lobby; joined in mid-life, its age is unknown
            # until the next read of the pool (upsert) gives it.
            card = self.cards[event.lobby_id] = LobbyCard(
                event.lobby_id,
                event.max_users,
                created_at=event.at if event.type == "created" else 0,
            )
        card.updated = time.monotonic()
        if event.type == "joined":
            card.users = (*card.users, *(u for u in event.users if u not in card.users))
        elif event.type == "left":
            card.users = tuple(u for u in card.users if u not in event.users)
            if event.size == 0:
                del self.cards[event.lobby_id]
                return
        elif event.type in ("booked", "expired"):
            self.set_state(event.lobby_id, BOOKED if event.type == "booked" else EXPIRED)
            return
        if card.state in (FILLING, FULL):
            card.state = FULL if card.is_full else FILLING
