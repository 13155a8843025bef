"""The answers-only checker (lobbysim.checks.answers) on hand-written histories: each guarantee it
checks is found broken when it is, and correct histories (concurrency, leaves, bookings,
expiry, unanswered calls) pass."""

from __future__ import annotations

import json

from lobbycore.violations import Violation
from lobbysim.checks.answers import check_answers
from lobbysim.checks.calls import FAIL, OK, UNKNOWN, Call


def join(user: str, t: float, lobby: str, users: tuple[str, ...], size: int = 2) -> Call:
    return Call("join", (user,), t, t + 0.5, OK, 200, lobby, users, size)


def get(t: float, lobby: str, users: tuple[str, ...] | None, size: int = 2) -> Call:
    if users is None:
        return Call("get_lobby", ("reader",), t, t + 0.5, FAIL, 404, lobby, code="lobby_not_found")
    return Call("get_lobby", ("reader",), t, t + 0.5, OK, 200, lobby, users, size)


def leave(user: str, t: float) -> Call:
    return Call("leave", (user,), t, t + 0.5, OK, 200)


def book(user: str, t: float, lobby: str, users: tuple[str, ...], key: str) -> Call:
    return Call("book", (user,), t, t + 0.5, OK, 200, lobby, users, key=key)


def kinds(calls: list[Call], **options: object) -> list[Violation]:
    return [f.violation for f in check_answers(calls, **options).findings]  # type: ignore[arg-type]


def test_a_correct_history_passes() -> None:
    calls = [
        join("a", 0, "L1", ("a",)),
        join("b", 0.2, "L1", ("a", "b")),  # concurrent with a's join: fine
        get(1, "L1", ("a", "b")),
        book("a", 2, "L1", ("a", "b"), key="k1"),
        book("a", 2.1, "L1", ("a", "b"), key="k1"),  # a retry with the same key
        Call("book", ("b",), 2.2, 2.6, FAIL, 409, "L1", code="already_booked"),
        join("a", 3, "L2", ("a",)),  # booked, so a may join again
        leave("a", 4),
        join("a", 5, "L3", ("a",)),
        get(6, "L2", None),  # L2 emptied by the leave
    ]
    report = check_answers(calls, seats=2)
    assert report.ok, report.findings
    assert report.figures["calls"] == len(calls)


def test_over_capacity() -> None:
    calls = [join("a", 0, "L1", ("a",)), join("c", 1, "L1", ("a", "b", "c"))]
    assert kinds(calls) == [Violation.OVER_CAPACITY]


def test_over_capacity_of_a_read_uses_the_size_a_join_asked_for() -> None:
    calls = [join("a", 0, "L1", ("a",)), get(1, "L1", ("a", "b", "c"), size=0)]
    assert Violation.OVER_CAPACITY in kinds(calls)


def test_user_told_two_lobbies_without_a_way_out() -> None:
    calls = [join("a", 0, "L1", ("a",)), join("a", 1, "L2", ("a",))]
    assert kinds(calls) == [Violation.USER_IN_TWO_LOBBIES]
    # With a leave between, or with L1 booked between, or past the lobby ttl: allowed.
    assert kinds([*calls[:1], leave("a", 0.6), calls[1]]) == []
    assert kinds([*calls[:1], book("x", 0.7, "L1", ("a",), "k"), calls[1]]) == []
    assert kinds(calls, lobby_ttl=0.5) == []


def test_user_shown_in_someone_elses_answer_of_another_lobby() -> None:
    # The article's join adds a user to every lobby with room: b's answer shows a in L2.
    calls = [join("a", 0, "L1", ("a",)), join("b", 1, "L2", ("a", "b"))]
    assert Violation.USER_IN_TWO_LOBBIES in kinds(calls)


def test_lost_join_a_later_answer_of_the_lobby_lacks_the_user() -> None:
    calls = [join("a", 0, "L1", ("a",)), join("b", 1, "L1", ("b",))]
    assert kinds(calls) == [Violation.LOST_JOIN]
    assert kinds([join("a", 0, "L1", ("a",)), get(1, "L1", None)]) == [Violation.LOST_JOIN]
    nowhere = Call("lobby_of", ("a",), 1, 1.5, FAIL, 404, code="not_in_lobby")
    assert kinds([join("a", 0, "L1", ("a",)), nowhere]) == [Violation.LOST_JOIN]


def test_overlapping_answers_are_not_ordered() -> None:
    # b's join was invoked before a's was answered: it may have been served first.
    calls = [join("a", 0, "L1", ("a",)), join("b", 0.4, "L1", ("b",))]
    assert kinds(calls) == []


def test_join_answered_without_the_user() -> None:
    assert kinds([join("a", 0, "L1", ("b",))]) == [Violation.LOST_JOIN]


def test_double_booking_needs_two_keys() -> None:
    calls = [
        join("a", 0, "L1", ("a",)),
        book("a", 1, "L1", ("a",), key="k1"),
        book("a", 1.1, "L1", ("a",), key="k2"),
    ]
    assert kinds(calls) == [Violation.DOUBLE_BOOKING]


def test_booking_without_a_member_or_with_a_stranger() -> None:
    calls = [join("a", 0, "L1", ("a",), size=3), join("b", 1, "L1", ("a", "b"), size=3)]
    assert kinds([*calls, book("a", 2, "L1", ("a",), "k")]) == [Violation.LOST_JOIN]
    assert kinds([*calls, book("a", 2, "L1", ("a", "b", "z"), "k")]) == [
        Violation.USER_IN_TWO_LOBBIES
    ]
    # A user whose join got no answer may be in it.
    lost = Call("join", ("z",), 1.5, None, UNKNOWN, None)
    assert kinds([*calls, lost, book("a", 2, "L1", ("a", "b", "z"), "k")]) == []


def test_oversell_against_the_declared_inventory() -> None:
    calls = [
        join("a", 0, "L1", ("a",)),
        join("b", 0, "L2", ("b",)),
        book("a", 1, "L1", ("a",), "k1"),
        book("b", 1, "L2", ("b",), "k2"),
    ]
    assert kinds(calls, seats=2) == []
    assert kinds(calls, seats=1) == [Violation.OVERSELL]


def test_unanswered_leave_may_have_taken_effect_any_time_later() -> None:
    calls = [
        join("a", 0, "L1", ("a",)),
        Call("leave", ("a",), 1, None, UNKNOWN, None),
        join("a", 5, "L2", ("a",)),
    ]
    assert kinds(calls) == []


def test_counter_examples_carry_the_calls_and_round_trip_as_json() -> None:
    calls = [join("a", 0, "L1", ("a",)), join("a", 1, "L2", ("a",))]
    (example,) = check_answers(calls).findings
    data = json.loads(json.dumps(example.to_dict()))
    assert data["kind"] == "user_in_two_lobbies"
    assert [Call.from_dict(c) for c in data["calls"]] == calls
