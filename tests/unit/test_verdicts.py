"""The one record every checker reports in: a Verdict of Findings, named by Violation.

Each checker (the pool audit, the history checkers over Python calls and HTTP answers, a
load run's counts, the live auditor) returns a Verdict; a verdict over nothing is never ok;
a run's own counts are checked against the pool with findings of the same vocabulary."""

from __future__ import annotations

import json

import pytest

from lobbycore import Booking, Lobby
from lobbycore.audit import POOL_CHECKS, PoolSnapshot, check
from lobbycore.violations import Checked, Finding, Verdict, Violation
from lobbysim.checks.answers import check_answers
from lobbysim.checks.calls import OK, Call
from lobbysim.checks.counts import RUN_CHECKS, RunCounts, check_run
from lobbysim.checks.history import Op, check_history
from simulator.auditor import LiveAuditor

A, B, C = "01ARZ3NDEKTSV4RRFFQ69G5FA0", "01ARZ3NDEKTSV4RRFFQ69G5FB0", "01ARZ3NDEKTSV4RRFFQ69G5FC0"


def lobby(lobby_id: str, *users: str, max_users: int = 2) -> Lobby:
    return Lobby(id=lobby_id, session_id="s", users=users, max_users=max_users, created_at=1)


def pool(*lobbies: Lobby, bookings: tuple[Booking, ...] = (), exists: bool = True) -> PoolSnapshot:
    return PoolSnapshot({x.id: x for x in lobbies}, None, None, list(bookings), None, exists=exists)


def test_a_verdict_over_nothing_is_not_ok_whoever_gives_it() -> None:
    nothing = [
        check(pool(exists=False)),
        check_history([], pool()),
        check_answers([]),
        LiveAuditor().verdict(),
        check_run(pool(exists=False), RunCounts(bookings=0, placed=0, leaves=0, party_joins=0)),
    ]
    for verdict in nothing:
        assert isinstance(verdict, Verdict)
        assert verdict.checked_nothing and not verdict.findings and not verdict.ok
        assert verdict.summary().endswith(" checked=nothing")
    assert not Verdict((), Checked((), "pool", 1)).ok  # no guarantee looked for: nothing


def test_a_verdict_over_something_without_findings_is_ok_and_summarised() -> None:
    verdict = check(pool(lobby(A, "a")))
    assert verdict.ok and not verdict.checked_nothing
    assert verdict.summary() == (
        "ok=true violations=0 "
        + " ".join(f"{kind}=0" for kind in POOL_CHECKS)
        + " lobbies=1 waiting=1 bookings=0"
    )
    # Every kind, figures left out: the shape the Locust and HTTP lines print.
    assert verdict.summary(Violation, figures=False).split() == [
        "ok=true",
        "violations=0",
        *(f"{kind}=0" for kind in Violation),
    ]


def test_findings_say_where_and_carry_the_calls_that_show_them() -> None:
    (finding,) = check(pool(lobby(A, "a", "b", "c"))).findings
    assert finding == Finding(
        Violation.OVER_CAPACITY, f"lobby {A} holds 3/2", lobby_id=A, user_id=None
    )
    assert str(finding) == f"over_capacity: lobby {A} holds 3/2"
    first = Call("join", ("a",), 0, 0.5, OK, 200, "L1", ("a",), 2)
    second = Call("join", ("a",), 1, 1.5, OK, 200, "L2", ("a",), 2)
    (example,) = check_answers([first, second]).findings
    assert example.user_id == "a" and example.calls == (first, second)
    data = json.loads(json.dumps(example.to_dict()))
    assert data["kind"] == "user_in_two_lobbies" and data["user_id"] == "a"
    assert [Call.from_dict(c) for c in data["calls"]] == [first, second]
    told = Op("join", ("a",), 0, 1, OK, A, lobby=lobby(A, "a"))
    (lost,) = check_history([told], pool()).findings
    assert (lost.violation, lost.lobby_id, lost.user_id, lost.calls) == (
        Violation.LOST_JOIN,
        A,
        "a",
        (told,),
    )
    assert json.loads(json.dumps(lost.to_dict()))["calls"][0]["lobby_id"] == A


def test_the_live_auditor_gives_its_findings_as_a_verdict() -> None:
    auditor = LiveAuditor()
    auditor.joined(["a"], lobby(A, "a"))
    auditor.check({A: lobby(A, "x", "y", "z")}, auditor.versions())
    verdict = auditor.verdict()
    assert not verdict.ok and verdict.figures == {"answers": 1, "reads": 1}
    assert verdict.counts() == {Violation.OVER_CAPACITY: 1, Violation.LOST_JOIN: 1}
    assert {(f.violation, f.lobby_id, f.user_id) for f in verdict.findings} == {
        (Violation.OVER_CAPACITY, A, None),
        (Violation.LOST_JOIN, A, "a"),
    }
    assert sum(auditor.counts().values()) == auditor.violations == len(verdict.findings)


# -- a load run's own counts against the pool -------------------------------------------------

FULL = (lobby(A, "a", "b"),)
BOOKED = (Booking(C, "s", ("c", "d"), 2, "r"),)


def counts(**changes: int | None) -> RunCounts:
    """Counts that agree with a pool of FULL lobbies and BOOKED bookings, but for changes."""
    agreed: dict[str, int | None] = {
        "bookings": 1,
        "placed": 4,
        "leaves": 0,
        "party_joins": 0,
        "server_joins": 4,
    }
    return RunCounts(**{**agreed, **changes})  # type: ignore[arg-type]


def test_a_run_whose_counts_agree_with_its_pool_passes() -> None:
    verdict = check_run(pool(*FULL, bookings=BOOKED), counts())
    assert verdict.ok and verdict.checked.guarantees == RUN_CHECKS
    assert check_run(pool(*FULL, bookings=BOOKED), counts(server_joins=None)).ok  # no count kept


@pytest.mark.parametrize(
    ("snap", "run", "kind"),
    [
        # A booking was answered, and the stream has none new for it.
        (pool(*FULL), counts(), Violation.LOST_BOOKING),
        # Clients placed more buyers than the server counted.
        (pool(*FULL, bookings=BOOKED), counts(placed=5), Violation.LOST_JOIN),
        # Lobbies left not full with no leave or party join to explain them.
        (
            pool(lobby(A, "a"), lobby(B, "b"), bookings=BOOKED),
            counts(placed=4),
            Violation.UNEXPLAINED_PARTIAL_LOBBIES,
        ),
        (pool(lobby(A, "a"), lobby(B, "b"), bookings=BOOKED), counts(leaves=1), None),
    ],
    ids=["lost-booking", "lost-join", "partial", "partial-explained"],
)
def test_each_run_count_check_fires_on_its_discrepancy(
    snap: PoolSnapshot, run: RunCounts, kind: Violation | None
) -> None:
    verdict = check_run(snap, run)
    assert [f.violation for f in verdict.findings] == ([] if kind is None else [kind])
    assert verdict.ok is (kind is None)


def test_run_counts_above_a_named_pools_earlier_bookings() -> None:
    earlier = (Booking(A, "s", ("x", "y"), 1, "old"),)
    snap = pool(bookings=(*earlier, *BOOKED))
    assert check_run(snap, counts(bookings=1, placed=0, server_joins=0, bookings_before=1)).ok
    lost = check_run(snap, counts(bookings=2, placed=0, server_joins=0, bookings_before=1))
    assert lost.counts() == {Violation.LOST_BOOKING: 1}


def test_a_run_that_got_no_answer_checked_nothing_however_clean_its_pool() -> None:
    """-u 0, or a server that refused every call: the pool is clean because the run never
    changed it, which is no pass."""
    untouched = pool(*FULL, bookings=BOOKED)
    nothing = RunCounts(bookings=0, placed=0, leaves=0, party_joins=0, bookings_before=1)
    verdict = check_run(untouched, nothing)
    assert verdict.findings == () and verdict.checked_nothing and not verdict.ok
    assert verdict.summary().endswith("checked=nothing")
