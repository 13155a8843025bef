"""A load run's own counts against the pool it ran on, on top of the pool audit.

The clients of a load run count what they were told (successful bookings, buyers placed by
joins, leaves, party joins); the pool holds what happened. Where the two disagree, a
guarantee broke somewhere nobody recorded call by call: a booking that is not in the
stream, more placements than the server counted, more lobbies left not full than the
run's leaves and party joins explain.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from lobbycore.audit import POOL_CHECKS, PoolSnapshot, check
from lobbycore.violations import Finding, Verdict, Violation

__all__ = ["RUN_CHECKS", "RunCounts", "check_run", "over_answers"]

RUN_CHECKS: tuple[Violation, ...] = (*POOL_CHECKS, Violation.UNEXPLAINED_PARTIAL_LOBBIES)
"""The guarantees :func:`check_run` looks for: the pool's, and the run's counts."""


@dataclass(frozen=True, slots=True)
class RunCounts:
    """What a run's clients counted (successful calls only), and what the pool held before."""

    bookings: int
    """Book calls answered with a booking."""
    placed: int
    """Buyers newly placed in a lobby by the run's joins."""
    leaves: int
    party_joins: int
    shards: int = 1
    server_joins: int | None = None
    """The pool's own count of placements during the run (None: the pool keeps no count,
    as the naive store's does not)."""
    bookings_before: int = 0
    """Entries the bookings stream held before the run (a named pool may have some)."""


def check_run(snap: PoolSnapshot, run: RunCounts, *, initial_seats: int | None = None) -> Verdict:
    """Every guarantee of the pool (:func:`lobbycore.audit.check`), then the run's counts
    against it. The figures are the pool audit's. A run none of whose calls was answered
    checked nothing: its verdict is not ok (``checked=nothing``)."""
    pool = check(snap, initial_seats=initial_seats)
    found = list(pool.findings)
    new_in_stream = len(snap.bookings) - run.bookings_before
    # More stream entries than successful calls is fine: calls cut off by a stop were
    # done by Redis but never reported.
    if run.bookings > new_in_stream:
        found.append(
            Finding(
                Violation.LOST_BOOKING,
                f"{run.bookings} successful book calls, {new_in_stream} new bookings in the stream",
            )
        )
    partial = sum(1 for lobby in snap.lobbies.values() if len(lobby.users) < lobby.max_users)
    # Joins alone leave at most one open lobby per capacity (per shard).
    capacities = len({lobby.max_users for lobby in snap.lobbies.values()})
    allowed = capacities * run.shards + run.leaves + run.party_joins
    if partial > allowed:
        found.append(
            Finding(
                Violation.UNEXPLAINED_PARTIAL_LOBBIES,
                f"{partial} lobbies not full, the run's leaves and party joins explain at most "
                f"{allowed}",
            )
        )
    if run.server_joins is not None and run.placed > run.server_joins:
        found.append(
            Finding(
                Violation.LOST_JOIN,
                f"the run's clients placed {run.placed} buyers, the server counted "
                f"{run.server_joins}",
            )
        )
    checked = dataclasses.replace(pool.checked, guarantees=RUN_CHECKS)
    answered = run.placed + run.bookings + run.leaves + run.party_joins
    return over_answers(Verdict(tuple(found), checked), answered)


def over_answers(verdict: Verdict, answered: int) -> Verdict:
    """A pool's verdict as the verdict of a run whose calls got ``answered`` answers. A run
    whose calls all went unanswered (no user, a server that refused every call) checked
    nothing about the run, however clean the pool it never changed."""
    if answered:
        return verdict
    nothing = dataclasses.replace(verdict.checked, what="answered calls", count=0)
    return dataclasses.replace(verdict, checked=nothing)
