"""A history checked from its answers alone checked nothing unless some call was answered: a
run whose every call went unanswered, or was refused, is never ok. Why calls got no answer
travels with them (``Call.error``), so a verdict over nothing can say why."""

from __future__ import annotations

import json

from lobbycore import Lobby
from lobbycore.audit import PoolSnapshot, check
from lobbysim.checks.answers import check_answers
from lobbysim.checks.calls import CUT_OFF, FAIL, OK, UNKNOWN, Call, unanswered
from lobbysim.checks.counts import over_answers

REFUSED = "connection refused to 127.0.0.1:8000"


def no_answer(t: float, error: str | None = REFUSED) -> Call:
    return Call("join", (f"u{t}",), t, None, UNKNOWN, size=2, error=error)


def refused(t: float) -> Call:
    return Call("join", (f"u{t}",), t, t + 0.1, FAIL, 409, code="sold_out")


def joined(t: float) -> Call:
    return Call("join", ("a",), t, t + 0.1, OK, 200, "L1", ("a",), 2)


def test_calls_that_were_never_answered_checked_nothing() -> None:
    for calls in (
        [no_answer(0), no_answer(1)],
        [refused(0), refused(1)],
        [refused(0), no_answer(1)],
    ):
        verdict = check_answers(calls)
        assert verdict.checked_nothing and not verdict.ok and not verdict.findings, calls
        assert " answered=0 " in verdict.summary()
        assert verdict.summary().endswith(" checked=nothing")
    figures = check_answers([refused(0), no_answer(1), no_answer(2)]).figures
    assert figures == {"calls": 3, "answered": 0, "refused": 1, "unknown": 2}


def test_one_answer_is_something_checked() -> None:
    verdict = check_answers([no_answer(0), joined(1), refused(2)])
    assert verdict.ok and verdict.checked.count == 1
    assert verdict.figures == {"calls": 3, "answered": 1, "refused": 1, "unknown": 1}


def test_why_no_answer_came_travels_with_the_call() -> None:
    call = no_answer(0)
    again = Call.from_dict(json.loads(json.dumps(call.to_dict())))
    assert again == call and again.error == REFUSED
    assert f"error={REFUSED}" in call.describe()
    calls = [no_answer(0), no_answer(1), no_answer(2, error=None), joined(3), refused(4)]
    assert unanswered(calls) == {REFUSED: 2, CUT_OFF: 1}


def test_a_pool_verdict_over_no_answer_checked_nothing() -> None:
    lobby = Lobby(id="01ARZ3NDEKTSV4RRFFQ69G5FA0", session_id="s", users=("a",), max_users=2,
                  created_at=1)  # fmt: skip
    clean = check(PoolSnapshot({lobby.id: lobby}, None, None, [], None))
    assert clean.ok
    assert over_answers(clean, 3) is clean
    nothing = over_answers(clean, 0)
    assert nothing.checked_nothing and not nothing.ok
    assert (nothing.checked.what, nothing.figures) == ("answered calls", clean.figures)
