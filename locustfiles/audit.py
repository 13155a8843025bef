"""The end-of-run audit: the pool checked against every guarantee and the run's own counts,
printed as one ``lobbysim audit:`` line and written to ``--result-file``.

It runs where the whole run's counts are: on the master in a distributed run (the workers
send theirs with their reports), else in the one process.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from locust.env import Environment
from locust.runners import WorkerRunner

from lobbycore.audit import Violation, check

from .pool import is_naive, pool_snapshot
from .state import RunState
from .stopping import unanswered

log = logging.getLogger("lobbysim")

JOIN_NAMES = ("join", "party_join", "join (open)")
SHOWN_PROBLEMS = 20


def runs_audit(environment: Environment) -> bool:
    return not isinstance(environment.runner, WorkerRunner)


def record_baseline(state: RunState) -> None:
    """What a named pool already holds, which the run's counts are compared above (a fresh
    pool starts at zero)."""
    if not state.named_pool:
        return
    if not is_naive(state.settings):
        state.baseline_joins = state.store.stats().joins
    state.baseline_bookings = len(pool_snapshot(state).bookings)


def _placements(environment: Environment) -> int:
    """Buyers newly placed by the run's joins, as its clients counted them."""
    total = 0
    for name in JOIN_NAMES:
        entry = environment.stats.entries.get((name, "lobby"))
        total += 0 if entry is None else entry.total_content_length
    return total


def _successes(environment: Environment, name: str) -> int:
    entry = environment.stats.entries.get((name, "lobby"))
    return 0 if entry is None else entry.num_requests - entry.num_failures


def audit(environment: Environment, state: RunState) -> bool:
    """Read the pool, check every guarantee and the run's own counts; print and log the
    verdict, and write the result file. True if nothing is broken."""
    pool = state.settings.pool
    snap = pool_snapshot(state)
    # A fresh pool got its inventory from this run (--seats): every seat must be accounted
    # for. A named pool may have sold seats before, so only 'never negative' applies there.
    initial = None if state.named_pool else state.settings.seats
    report = check(snap, initial_seats=initial)
    problems = [f"{v.kind}: {v.detail}" for v in report.violations]

    # What the run's own counts explain (the run may share the pool with earlier runs).
    booked = _successes(environment, "book")
    new_in_stream = len(snap.bookings) - state.baseline_bookings
    lost_bookings = max(0, booked - new_in_stream)
    # More stream entries than successful calls is fine: calls cut off by the stop were
    # done by Redis but never reported.
    if lost_bookings:
        problems.append(
            f"{Violation.LOST_BOOKING}: {booked} successful book calls, {new_in_stream} new bookings in the stream"
        )
    leaves = _successes(environment, "leave")
    parties = _successes(environment, "party_join")
    partial = sum(1 for lobby in snap.lobbies.values() if len(lobby.users) < lobby.max_users)
    # Joins alone leave at most one open lobby per capacity (per shard).
    capacities = len({lobby.max_users for lobby in snap.lobbies.values()})
    allowed = capacities * state.settings.shards + leaves + parties
    unexplained = max(0, partial - allowed)
    if unexplained:
        problems.append(
            f"{Violation.UNEXPLAINED_PARTIAL_LOBBIES}: {partial} lobbies not full, the run's leaves and "
            f"party joins explain at most {allowed}"
        )
    reported = _placements(environment)
    naive = is_naive(state.settings)
    server_count = None if naive else state.store.stats().joins - state.baseline_joins
    lost_joins = server_count is not None and reported > server_count
    if lost_joins:
        problems.append(
            f"{Violation.LOST_JOIN}: the run's clients placed {reported} buyers, the server counted {server_count}"
        )
    for problem in problems[:SHOWN_PROBLEMS]:
        print(f"  {problem[:200]}")
    if len(problems) > SHOWN_PROBLEMS:
        print(f"  ... and {len(problems) - SHOWN_PROBLEMS} more")
    counts = report.counts()
    counts[Violation.LOST_BOOKING] += 1 if lost_bookings else 0
    counts[Violation.UNEXPLAINED_PARTIAL_LOBBIES] = 1 if unexplained else 0
    counts[Violation.LOST_JOIN] += 1 if lost_joins else 0
    ok = not problems
    cut_off = unanswered(state) + sum(state.unanswered.values())
    joins = sum(_successes(environment, name) for name in JOIN_NAMES)
    line = (
        f"lobbysim audit: pool={pool} strategy={state.settings.strategy} ok={str(ok).lower()} "
        f"violations={len(problems)} "
        + " ".join(f"{kind}={counts.get(kind, 0)}" for kind in Violation)
        + f" joins={joins}"
        + f" placed_reported={reported} placed_server={'n/a' if server_count is None else server_count}"
        f" bookings={booked} lobbies={report.lobbies} waiting={report.users_waiting}"
        f" unanswered={cut_off}"
    )
    print(line)
    sys.stdout.flush()
    (log.info if ok else log.error)("%s", line)  # also in the web UI's log
    if state.settings.result_file is not None:
        result: dict[str, Any] = {
            "ok": ok,
            "pool": pool,
            "strategy": state.settings.strategy,
            "violations": {str(kind): counts.get(kind, 0) for kind in Violation},
            "problems": problems[:SHOWN_PROBLEMS],
            "joins": joins,
            "placed_reported": reported,
            "placed_server": server_count,
            "unanswered": cut_off,
            "bookings": booked,
            "lobbies": report.lobbies,
            "waiting": report.users_waiting,
        }
        state.settings.result_file.write_text(json.dumps(result, indent=2) + "\n")
    return ok
