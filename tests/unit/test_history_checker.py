"""check_history on small hand-made histories: each rule fires, unknown calls are allowed."""

from __future__ import annotations

from lobbycore import Booking, Lobby
from lobbycore.audit import PoolSnapshot
from lobbycore.violations import Violation
from lobbysim.checks.calls import FAIL, OK, UNKNOWN
from lobbysim.checks.history import Op, check_history

L, M = "01ARZ3NDEKTSV4RRFFQ69G5FA0", "01ARZ3NDEKTSV4RRFFQ69G5FB0"


def lobby(lobby_id: str, *users: str, max_users: int = 3) -> Lobby:
    return Lobby(id=lobby_id, session_id="s", users=users, max_users=max_users, created_at=1)


def join(user: str, at: float, got: Lobby | None, outcome: str = OK) -> Op:
    return Op("join", (user,), at, at + 1, outcome, got.id if got else None, lobby=got)


def book(user: str, at: float, booking: Booking, rid: str = "r") -> Op:
    return Op("book", (user,), at, at + 1, OK, booking.lobby_id, booking=booking)


def unanswered_book(user: str, at: float, lobby_id: str) -> Op:
    return Op("book", (user,), at, at + 1, UNKNOWN, lobby_id)


def final(*lobbies: Lobby, booked: tuple[Booking, ...] = ()) -> PoolSnapshot:
    """The pool at the end: its lobbies, and ``booked``, its bookings record."""
    return PoolSnapshot({x.id: x for x in lobbies}, None, None, list(booked), None)


def kinds(ops: list[Op], end: PoolSnapshot) -> set[str]:
    return {v.violation for v in check_history(ops, end).findings}


def test_a_consistent_history() -> None:
    ops = [
        join("a", 0, lobby(L, "a")),
        join("b", 2, lobby(L, "a", "b")),
        book("a", 4, Booking(L, "s", ("a", "b"), 5, "r")),
        join("c", 6, lobby(M, "c")),
    ]
    booked = (Booking(L, "s", ("a", "b"), 5, "r"),)
    assert check_history(ops, final(lobby(M, "c"), booked=booked)).ok


def test_booking_without_a_certain_member_is_a_lost_join() -> None:
    ops = [
        join("a", 0, lobby(L, "a")),
        join("b", 2, lobby(L, "a", "b")),
        book("a", 4, Booking(L, "s", ("a",), 5, "r")),
    ]
    assert kinds(ops, final(booked=(Booking(L, "s", ("a",), 5, "r"),))) == {Violation.LOST_JOIN}


def test_booking_someone_who_never_joined_is_flagged() -> None:
    ops = [
        join("a", 0, lobby(L, "a")),
        join("x", 0, lobby(M, "x")),
        book("a", 4, Booking(L, "s", ("a", "x"), 5, "r")),
    ]
    assert Violation.USER_IN_TWO_LOBBIES in kinds(ops, final(lobby(M, "x")))


def test_end_state_rules() -> None:
    assert kinds([join("a", 0, lobby(L, "a"))], final()) == {Violation.LOST_JOIN}
    assert kinds(
        [join("a", 0, lobby(L, "a")), Op("leave", ("a",), 2, 3, OK)], final(lobby(L, "a"))
    ) == {Violation.LOST_LEAVE}
    assert Violation.USER_IN_TWO_LOBBIES in kinds(
        [join("a", 0, lobby(L, "a"))], final(lobby(L, "a"), lobby(M, "a"))
    )


def test_double_booking_and_over_capacity() -> None:
    ops = [
        join("a", 0, lobby(L, "a", "b", "c", "d")),
        book("a", 2, Booking(L, "s", ("a",), 3, "r1")),
        book("a", 4, Booking(L, "s", ("a",), 5, "r2")),
    ]
    assert {Violation.DOUBLE_BOOKING, Violation.OVER_CAPACITY} <= kinds(ops, final())


def test_unknown_join_may_or_may_not_have_taken_effect() -> None:
    took = [join("a", 0, None, UNKNOWN)]
    report = check_history(took, final(lobby(L, "a")))
    assert report.ok and report.figures["unknown"] == 1 and report.figures["took_effect"] == 1
    assert check_history(took, final()).ok  # or it did not
    refused = [join("a", 0, None, FAIL)]
    assert kinds(refused, final(lobby(L, "a"))) == {
        Violation.USER_IN_TWO_LOBBIES
    }  # a refusal changes nothing


def test_an_answered_booking_missing_from_the_record_is_lost() -> None:
    ops = [
        join("a", 0, lobby(L, "a", max_users=1)),
        book("a", 2, Booking(L, "s", ("a",), 3, "r1")),
    ]
    assert Violation.LOST_BOOKING in check_history(ops, final()).checked.guarantees
    report = check_history(ops, final())
    assert [(f.violation, f.lobby_id) for f in report.findings] == [(Violation.LOST_BOOKING, L)]
    # Its lobby booked again by another call (a failover's resale): lost all the same.
    again = final(booked=(Booking(L, "s", ("a",), 9, "r2"),))
    assert kinds(ops, again) == {Violation.LOST_BOOKING}
    assert check_history(ops, final(booked=(Booking(L, "s", ("a",), 3, "r1"),))).ok


def test_an_unanswered_booking_that_ran_is_no_lost_join() -> None:
    ops = [
        join("a", 0, lobby(L, "a")),
        join("b", 2, lobby(L, "a", "b")),
        unanswered_book("a", 4, L),
    ]
    ran = final(booked=(Booking(L, "s", ("a", "b"), 5, "r"),))
    report = check_history(ops, ran)
    assert report.ok, report.findings
    assert report.figures["unknown"] == 1 and report.figures["took_effect"] == 1
    # It did not run: then a and b must still be in L.
    assert kinds(ops, final()) == {Violation.LOST_JOIN}
    assert check_history(ops, final(lobby(L, "a", "b"))).ok
    # It ran, but booked someone no join could have put in L.
    stranger = final(booked=(Booking(L, "s", ("a", "b", "x"), 5, "r"),))
    assert kinds(ops, stranger) == {Violation.USER_IN_TWO_LOBBIES}
