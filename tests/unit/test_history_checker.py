"""check_history on small hand-made histories: each rule fires, unknown calls are allowed."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import pytest

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


# A long clean history, and each kind of defect hidden in the middle of it (or at its end):
# the checker's indexes must find what its scans did.
ROUNDS, GROUPS = 84, 100  # 50,300 operations by 400 users
MID, G = 42, 50  # the round and the group a defect is planted in


def lid_of(r: int, g: int) -> str:
    return f"L{r:03d}-{g:03d}"


def member(g: int, k: int) -> str:
    return f"u{g}-{k}"


@functools.cache
def long_history() -> tuple[tuple[Op, ...], tuple[Lobby, ...], tuple[Booking, ...]]:
    """Each round, each group of four users joins its own lobby one after another, the
    fourth leaves, and the first books (all groups at the same times, so calls overlap).
    Some joins and bookings get no answer but took effect; the last round is not booked."""
    ops: list[Op] = []
    booked: list[Booking] = []
    lobbies: list[Lobby] = []
    for r in range(ROUNDS):
        t = r * 10.0
        for g in range(GROUPS):
            lid, members = lid_of(r, g), tuple(member(g, k) for k in range(4))
            for k, user in enumerate(members):
                if (r + g) % 7 == 0 and k == 2:
                    ops.append(Op("join", (user,), t + k, t + k + 0.5, UNKNOWN))
                else:
                    got = lobby(lid, *members[: k + 1], max_users=4)
                    ops.append(Op("join", (user,), t + k, t + k + 0.5, OK, lid, lobby=got))
            ops.append(Op("leave", (members[3],), t + 4, t + 4.5, OK))
            if r == ROUNDS - 1:
                lobbies.append(lobby(lid, *members[:3], max_users=4))
                continue
            booking = Booking(lid, "s", members[:3], 0, f"r{r}-{g}")
            booked.append(booking)
            if (r + g) % 11 == 0:
                ops.append(Op("book", (members[0],), t + 5, t + 6, UNKNOWN, lid))
            else:
                ops.append(Op("book", (members[0],), t + 5, t + 6, OK, lid, booking=booking))
    return tuple(ops), tuple(lobbies), tuple(booked)


def test_a_long_clean_history_is_clean() -> None:
    ops, lobbies, booked = long_history()
    report = check_history(list(ops), final(*lobbies, booked=booked))
    assert report.ok, report.findings[:3]
    assert report.figures["operations"] == len(ops) == 50_300
    assert report.figures["unknown"] > 0 and report.figures["took_effect"] > 0


def _replace_booking(
    ops: list[Op], booked: list[Booking], lid: str, users: tuple[str, ...]
) -> None:
    at = next(i for i, op in enumerate(ops) if op.kind == "book" and op.lobby_id == lid)
    old = ops[at].booking
    assert old is not None
    new = dataclasses.replace(old, users=users)
    ops[at] = dataclasses.replace(ops[at], booking=new)
    booked[next(i for i, b in enumerate(booked) if b.lobby_id == lid)] = new


def _over_capacity(ops: list[Op], lobbies: dict[str, Lobby], booked: list[Booking]) -> None:
    lid = lid_of(MID, G)
    at = next(i for i, op in enumerate(ops) if op.lobby_id == lid and op.users[0].endswith("-3"))
    answer = lobby(lid, *(member(G, k) for k in range(4)), "x", max_users=4)
    ops[at] = dataclasses.replace(ops[at], lobby=answer)


def _double_booking(ops: list[Op], lobbies: dict[str, Lobby], booked: list[Booking]) -> None:
    again = Booking(lid_of(MID, G), "s", tuple(member(G, k) for k in range(3)), 0, "again")
    ops.append(
        Op("book", (member(G, 1),), MID * 10 + 7, MID * 10 + 7.5, OK, again.lobby_id, booking=again)
    )
    booked.append(again)


def _lost_booking(ops: list[Op], lobbies: dict[str, Lobby], booked: list[Booking]) -> None:
    booked[:] = [b for b in booked if b.lobby_id != lid_of(MID, G)]


def _booked_without_a_member(
    ops: list[Op], lobbies: dict[str, Lobby], booked: list[Booking]
) -> None:
    _replace_booking(ops, booked, lid_of(MID, G), (member(G, 0), member(G, 2)))


def _booked_a_stranger(ops: list[Op], lobbies: dict[str, Lobby], booked: list[Booking]) -> None:
    users = (*(member(G, k) for k in range(3)), member(G + 1, 0))
    _replace_booking(ops, booked, lid_of(MID, G), users)


def _unanswered_booking_ran_with_a_stranger(
    ops: list[Op], lobbies: dict[str, Lobby], booked: list[Booking]
) -> None:
    g = 2  # (MID + g) % 11 == 0: its booking got no answer
    at = next(i for i, b in enumerate(booked) if b.lobby_id == lid_of(MID, g))
    users = (*(member(g, k) for k in range(3)), member(g + 1, 0))
    booked[at] = dataclasses.replace(booked[at], users=users)


def _left_out_at_the_end(ops: list[Op], lobbies: dict[str, Lobby], booked: list[Booking]) -> None:
    lid = lid_of(ROUNDS - 1, G)
    lobbies[lid] = lobby(lid, member(G, 0), member(G, 2), max_users=4)


def _leave_undone_at_the_end(
    ops: list[Op], lobbies: dict[str, Lobby], booked: list[Booking]
) -> None:
    lid = lid_of(ROUNDS - 1, G)
    lobbies[lid] = lobby(lid, *(member(G, k) for k in range(4)), max_users=4)


def _in_two_lobbies_at_the_end(
    ops: list[Op], lobbies: dict[str, Lobby], booked: list[Booking]
) -> None:
    lid = lid_of(ROUNDS - 1, G + 1)
    lobbies[lid] = lobby(lid, *(member(G + 1, k) for k in range(3)), member(G, 0), max_users=4)


@pytest.mark.parametrize(
    ("plant", "expected", "lobby_id", "user_id"),
    [
        (_over_capacity, Violation.OVER_CAPACITY, lid_of(MID, G), None),
        (_double_booking, Violation.DOUBLE_BOOKING, lid_of(MID, G), None),
        (_lost_booking, Violation.LOST_BOOKING, lid_of(MID, G), None),
        (_booked_without_a_member, Violation.LOST_JOIN, lid_of(MID, G), member(G, 1)),
        (_booked_a_stranger, Violation.USER_IN_TWO_LOBBIES, lid_of(MID, G), member(G + 1, 0)),
        (
            _unanswered_booking_ran_with_a_stranger,
            Violation.USER_IN_TWO_LOBBIES,
            lid_of(MID, 2),
            member(3, 0),
        ),
        (_left_out_at_the_end, Violation.LOST_JOIN, lid_of(ROUNDS - 1, G), member(G, 1)),
        (_leave_undone_at_the_end, Violation.LOST_LEAVE, None, member(G, 3)),
        (_in_two_lobbies_at_the_end, Violation.USER_IN_TWO_LOBBIES, None, member(G, 0)),
    ],
    ids=lambda value: value.__name__.strip("_") if callable(value) else None,
)
def test_a_defect_hidden_in_a_long_history_is_found(
    plant: Callable[[list[Op], dict[str, Lobby], list[Booking]], None],
    expected: Violation,
    lobby_id: str | None,
    user_id: str | None,
) -> None:
    clean_ops, clean_lobbies, clean_booked = long_history()
    ops, lobbies, booked = list(clean_ops), {x.id: x for x in clean_lobbies}, list(clean_booked)
    plant(ops, lobbies, booked)
    report = check_history(ops, final(*lobbies.values(), booked=tuple(booked)))
    assert {f.violation for f in report.findings} == {expected}, report.findings[:3]
    named = {(f.lobby_id, f.user_id) for f in report.findings}
    assert any(
        (lobby_id is None or lid == lobby_id) and (user_id is None or uid == user_id)
        for lid, uid in named
    ), named
