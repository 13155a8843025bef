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

from lobbycore import unusable
from lobbycore.violations import Violation
from lobbysim.checks.counts import RunCounts, check_run

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
    verdict, and write the result file. True if nothing is broken. A pool that cannot be
    read (the server full, gone or refusing) still gets its line and result file: not ok,
    with the reason."""
    try:
        return _audit(environment, state)
    except Exception as exc:
        reason = unusable(exc, state.settings.redis_url)
        line = (
            f"lobbysim audit: pool={state.settings.pool} strategy={state.settings.strategy} "
            f"ok=false error={reason}"
        )
        print(line)
        sys.stdout.flush()
        log.error("%s", line)
        if state.settings.result_file is not None:
            result = {"ok": False, "pool": state.settings.pool, "error": reason}
            result["latency_us"] = state.latency.summary()
            state.settings.result_file.write_text(json.dumps(result, indent=2) + "\n")
        return False


def _audit(environment: Environment, state: RunState) -> bool:
    pool = state.settings.pool
    snap = pool_snapshot(state)
    booked = _successes(environment, "book")
    reported = _placements(environment)
    naive = is_naive(state.settings)
    server_count = None if naive else state.store.stats().joins - state.baseline_joins
    run = RunCounts(
        bookings=booked,
        placed=reported,
        leaves=_successes(environment, "leave"),
        party_joins=_successes(environment, "party_join"),
        shards=state.settings.shards,
        server_joins=server_count,
        bookings_before=state.baseline_bookings,
    )
    # A fresh pool got its inventory from this run (--seats): every seat must be accounted
    # for. A named pool may have sold seats before, so only 'never negative' applies there.
    initial = None if state.named_pool else state.settings.seats
    verdict = check_run(snap, run, initial_seats=initial)
    problems = [str(finding) for finding in verdict.findings]
    for problem in problems[:SHOWN_PROBLEMS]:
        print(f"  {problem[:200]}")
    if len(problems) > SHOWN_PROBLEMS:
        print(f"  ... and {len(problems) - SHOWN_PROBLEMS} more")
    counts = verdict.counts()
    cut_off = unanswered(state) + sum(state.unanswered.values())
    joins = sum(_successes(environment, name) for name in JOIN_NAMES)
    line = (
        f"lobbysim audit: pool={pool} strategy={state.settings.strategy} "
        f"{verdict.summary(Violation, figures=False)}"
        + f" joins={joins}"
        + f" placed_reported={reported} placed_server={'n/a' if server_count is None else server_count}"
        f" bookings={booked} lobbies={verdict.figures['lobbies']} waiting={verdict.figures['waiting']}"
        f" unanswered={cut_off}"
    )
    print(line)
    sys.stdout.flush()
    (log.info if verdict.ok else log.error)("%s", line)  # also in the web UI's log
    if state.settings.result_file is not None:
        result: dict[str, Any] = {
            "ok": verdict.ok,
            "pool": pool,
            "strategy": state.settings.strategy,
            "violations": {str(kind): counts.get(kind, 0) for kind in Violation},
            "problems": problems[:SHOWN_PROBLEMS],
            "joins": joins,
            "placed_reported": reported,
            "placed_server": server_count,
            "unanswered": cut_off,
            "bookings": booked,
            "lobbies": verdict.figures["lobbies"],
            "waiting": verdict.figures["waiting"],
            "latency_us": state.latency.summary(),  # per request name and Aggregated
        }
        state.settings.result_file.write_text(json.dumps(result, indent=2) + "\n")
    return verdict.ok
