"""The simulator's engine parts, without a screen: metrics, board, live auditor."""

from __future__ import annotations

import pytest

from lobbycore import Booking, Lobby, LobbyEvent
from lobbycore.violations import Violation
from simulator.auditor import LiveAuditor
from simulator.board import (
    BOOKED,
    BOOKING,
    FILLING,
    FULL,
    LINGER_SECONDS,
    VIOLATED_LINGER_SECONDS,
    Board,
)
from simulator.engine import SimConfig
from simulator.metrics import LatencyHistogram, RateMeter

A, B = "01ARZ3NDEKTSV4RRFFQ69G5FA0", "01ARZ3NDEKTSV4RRFFQ69G5FB0"


def lobby(lobby_id: str, *users: str, max_users: int = 3) -> Lobby:
    return Lobby(id=lobby_id, session_id="s", users=users, max_users=max_users, created_at=1)


def test_latency_histogram_percentiles_are_close_and_bounded() -> None:
    hist = LatencyHistogram()
    for i in range(1, 1001):
        hist.record(i / 10)  # 0.1 .. 100 ms
    assert 45 <= hist.percentile(50) <= 55
    assert 95 <= hist.percentile(99) <= 110
    assert len(hist._counts) < 200  # buckets, not samples
    assert LatencyHistogram().percentile(99) == 0


def test_rate_meter_counts_whole_seconds() -> None:
    now = [100.2]
    meter = RateMeter(clock=lambda: now[0])
    meter.add(3)
    now[0] = 101.5
    meter.add(5)
    now[0] = 102.1
    assert meter.history(3) == [0.0, 3.0, 5.0]
    assert meter.rate(2) == 4.0 and meter.total == 8


def test_board_keeps_fresh_news_over_an_older_read() -> None:
    board = Board()
    board.upsert(lobby(A, "a"))
    read_started = board.cards[A].updated - 1  # the read began before that join came back
    board.sync({A: lobby(A)}, read_started)
    assert board.cards[A].users == ("a",)
    board.sync({}, board.cards[A].updated + 1)  # a later read no longer has it
    assert A not in board.cards


def test_board_states_and_linger() -> None:
    board = Board()
    assert board.upsert(lobby(A, "a", "b", "c")).state == FULL
    board.set_state(A, BOOKING)
    board.set_state(A, BOOKED)
    board.sync({}, board.cards[A].updated + 1)
    assert A in board.cards  # booked cards linger after the lobby is gone
    board.prune(now=board.cards[A].ended + 10)
    assert A not in board.cards


def test_a_red_card_lingers_longer_than_a_booked_one() -> None:
    board = Board()
    for lobby_id in (A, B):
        board.upsert(lobby(lobby_id, "a", "b", "c"))
        board.set_state(lobby_id, BOOKED)
    board.mark_violated([B])
    ended = max(card.ended or 0.0 for card in board.cards.values())
    board.prune(now=ended + LINGER_SECONDS + 1)
    assert A not in board.cards and B in board.cards  # a broken guarantee stays to be seen
    board.prune(now=ended + VIOLATED_LINGER_SECONDS + 1)
    assert B not in board.cards


def test_board_follows_events() -> None:
    board = Board()
    events = [
        LobbyEvent("1-0", "created", A, 2, 0, ()),
        LobbyEvent("2-0", "joined", A, 2, 1, ("a",)),
        LobbyEvent("3-0", "joined", A, 2, 2, ("b",)),
        LobbyEvent("4-0", "full", A, 2, 2, ()),
    ]
    for event in events:
        board.apply(event)
    assert board.cards[A].users == ("a", "b") and board.cards[A].state == FULL
    board.apply(LobbyEvent("5-0", "left", A, 2, 1, ("a",)))
    assert board.cards[A].state == FILLING
    board.apply(LobbyEvent("6-0", "booked", A, 2, 0, ("b",)))
    assert board.cards[A].state == BOOKED


def test_auditor_is_quiet_for_a_sound_history() -> None:
    auditor = LiveAuditor()
    auditor.joined(["a", "b"], lobby(A, "a", "b"))
    auditor.check({A: lobby(A, "a", "b")}, auditor.versions())
    auditor.booked_ok(Booking(A, "s", ("a", "b"), 2, "r"))
    assert auditor.violations == 0 and not auditor.belief


def test_auditor_skips_users_with_an_operation_in_flight() -> None:
    auditor = LiveAuditor()
    auditor.joined(["a"], lobby(A, "a"))
    before = auditor.versions()
    auditor.start("a")  # a leave is running while the pool is read
    auditor.check({A: lobby(A)}, before)
    assert auditor.violations == 0


def test_auditor_finds_each_kind() -> None:
    auditor = LiveAuditor()
    auditor.joined(["a"], lobby(A, "a"))
    auditor.joined(["b"], lobby(B, "b"))
    auditor.check({A: lobby(A, "x", "y", "z", "w"), B: lobby(B, "b", "a")}, auditor.versions())
    counts = auditor.counts()
    assert (
        counts[Violation.OVER_CAPACITY] == 1
        and counts[Violation.LOST_JOIN] == 1
        and counts[Violation.USER_IN_TWO_LOBBIES] == 1
    )
    auditor.booked_ok(Booking(B, "s", ("b",), 2, "r1"))
    auditor.booked_ok(Booking(B, "s", ("b",), 3, "r2"))
    assert auditor.counts()[Violation.DOUBLE_BOOKING] == 1
    assert auditor.red_lobbies == {
        A: {Violation.OVER_CAPACITY, Violation.LOST_JOIN, Violation.USER_IN_TWO_LOBBIES},
        B: {Violation.USER_IN_TWO_LOBBIES, Violation.DOUBLE_BOOKING},
    }
    assert len(auditor.drain()) == auditor.violations and auditor.drain() == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rate": 0},
        {"rate": -1},
        {"max_users": 0},
        {"party_share": 1.5},
        {"patience": 0},
        {"book_after": 0},
        {"seats": -1},
        {"strategy": "fast"},
    ],
)
def test_bad_sim_config(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SimConfig(**kwargs)  # type: ignore[arg-type]


def test_a_lobby_first_seen_mid_life_is_dated_by_a_read_not_by_the_event() -> None:
    board = Board()
    board.apply(LobbyEvent("1700000005000-0", "joined", A, 4, 2, ("b",)))
    assert board.cards[A].created_at == 0  # unknown: the card shows no age
    board.upsert(lobby(A, "a", "b", max_users=4))  # a read of the pool (created_at=1)
    assert board.cards[A].created_at == 1
    board.apply(LobbyEvent("1700000009000-0", "created", B, 4, 0, ()))
    assert board.cards[B].created_at == 1700000009000
