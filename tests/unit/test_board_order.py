"""The board's order (what a screen with room for a few cards draws) and its cards' ages."""

from __future__ import annotations

from lobbycore import Lobby, LobbyEvent
from lobbycore.violations import Violation
from simulator.board import BOOKED, BOOKING, EXPIRED, FILLING, FULL, Board


def lobby_id(i: int) -> str:
    return f"01ARZ3NDEKTSV4RRFFQ69G5F{i:02d}"


def lobby(i: int, users: int, created_at: int) -> Lobby:
    return Lobby(lobby_id(i), "s", tuple(f"u{i}-{k}" for k in range(users)), 4, created_at)


def test_cards_are_ordered_filling_full_booking_then_the_newest_booked() -> None:
    board = Board()
    # Created in this order; the oldest lobbies are the booked ones, as in a running demo.
    states = [BOOKED, BOOKED, EXPIRED, BOOKING, BOOKED, FULL, BOOKING, FILLING, FILLING]
    for i, state in enumerate(states):
        board.upsert(lobby(i, 4 if state != FILLING else 1, created_at=1000 + i))
        board.set_state(lobby_id(i), state)
    # booked in another order than created: lobby 4 first, then 1, then 0
    for i, ended in ((4, 10.0), (1, 11.0), (0, 12.0), (2, 9.0)):
        board.cards[lobby_id(i)].ended = ended
    order = [(card.state, card.id[-2:]) for card in board.ordered()]
    assert order == [
        (FILLING, "08"),
        (FILLING, "07"),
        (FULL, "05"),
        (BOOKING, "06"),
        (BOOKING, "03"),
        (BOOKED, "00"),
        (BOOKED, "01"),
        (BOOKED, "04"),
        (EXPIRED, "02"),
    ]


def test_red_cards_come_first_within_their_state() -> None:
    board = Board()
    for i in range(3):
        board.upsert(lobby(i, 1, created_at=1000 + i))
    board.mark_violated({lobby_id(0): {Violation.LOST_JOIN}})
    assert [card.id[-2:] for card in board.ordered()] == ["00", "02", "01"]


def test_marked_cards_keep_every_guarantee_named_in_violation_order() -> None:
    board = Board()
    board.upsert(lobby(0, 1, created_at=1000))
    board.upsert(lobby(1, 1, created_at=1001))
    board.mark_violated({lobby_id(0): {Violation.LOST_JOIN}})
    board.mark_violated({lobby_id(0): {Violation.OVER_CAPACITY}, "gone": {Violation.LOST_JOIN}})
    board.mark_violated([lobby_id(1)])  # told only that it broke one
    first, second = board.cards[lobby_id(0)], board.cards[lobby_id(1)]
    assert first.violated and first.broke == (Violation.OVER_CAPACITY, Violation.LOST_JOIN)
    assert second.violated and second.broke == ()


def test_a_card_kept_fresh_by_events_is_dated_by_a_read_of_the_pool() -> None:
    # `lobbysim watch`: a lobby first seen in mid-life (its `created` event was before the
    # watch began) keeps getting `joined` events, fresher than any read; the read still
    # gives its creation time, which never changes, so its card (booked too) shows an age.
    board = Board()
    board.apply(LobbyEvent("1700000005000-0", "joined", lobby_id(0), 4, 2, ("b",)))
    read_started = board.cards[lobby_id(0)].updated - 1  # the read began before that event
    board.sync({lobby_id(0): lobby(0, 1, created_at=1_700_000_001_000)}, read_started)
    card = board.cards[lobby_id(0)]
    assert card.created_at == 1_700_000_001_000
    assert card.users == ("b",)  # the fresher news is kept
    board.apply(LobbyEvent("1700000006000-0", "booked", lobby_id(0), 4, 0, ("b",)))
    assert card.state == BOOKED and card.created_at == 1_700_000_001_000
