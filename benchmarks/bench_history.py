"""How long the history checker takes to give its verdict, by history length (not a test:
nothing is asserted).

    .venv/bin/python benchmarks/bench_history.py
    .venv/bin/python benchmarks/bench_history.py --baseline-rev 2522eff  # the scanning checker
    .venv/bin/python benchmarks/bench_history.py --sizes 10000,30000 --no-memory

Each history is made by a model pool (a correct one, applied one operation at a time) and
recorded through :class:`Recorder`, with overlapping call intervals (each call is invoked
up to SPREAD steps before the moment it takes effect and completes up to SPREAD steps
after; one user's calls never overlap): single and party joins, leaves, bookings, a few
refusals and about 2 % of calls that get no answer (half of which took effect). The final
:class:`PoolSnapshot` is the model's. The verdict must be clean; a history is the same for
a given size and seed.

For each size it prints the CPU seconds and wall seconds of ``check_history`` and the CPU
µs per operation: flat µs/op is linear growth. ``--baseline-rev`` also times the checker
as it was at a git revision, on the same histories in the same run (skipping sizes its
growth so far says would take more than ``--budget`` seconds), and says whether the two
verdicts agree. Then (unless ``--no-memory``) the memory of the recorded operations at the
largest size, and the check's peak memory on them beyond that, by tracemalloc.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import random
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lobbycore import AlreadyInLobby, Booking, Lobby, LobbyNotFound
from lobbycore.audit import PoolSnapshot
from lobbysim.checks.history import Op, Recorder, check_history

ROOT = Path(__file__).resolve().parent.parent
SIZES = (10_000, 30_000, 100_000, 300_000)
MAX_USERS = 4
SPREAD = 2.5  # steps a call may be in flight before and after it takes effect
UNKNOWN_RATE = 0.02


class NoAnswer(Exception):
    """A call that got no answer (recorded as unknown)."""


@dataclass
class Model:
    """A correct pool, applied one call at a time, that records each call as it goes."""

    rng: random.Random
    users: list[str]
    recorder: Recorder = field(init=False)
    lobbies: dict[str, list[str]] = field(default_factory=dict)
    where: dict[str, str] = field(default_factory=dict)
    bookings: list[Booking] = field(default_factory=list)
    _times: list[float] = field(default_factory=list)
    _ready_at: dict[str, float] = field(default_factory=dict)
    _lobby_count: int = 0
    _request_count: int = 0

    def __post_init__(self) -> None:
        self.recorder = Recorder(unanswered=(NoAnswer,), clock=self._times.pop)

    def run(self, operations: int) -> None:
        step = 0.0
        idle = list(self.users)
        busy: list[tuple[float, str]] = []  # (ready at, user), in the order they went busy
        while len(self.recorder.ops) < operations:
            step += 1.0
            while busy and busy[0][0] <= step:  # spreads are bounded: roughly in order
                idle.append(busy.pop(0)[1])
            if not idle:
                continue
            user = idle.pop(self.rng.randrange(len(idle)))
            party = [user]
            free = [u for u in idle[-8:] if u not in self.where]
            if user not in self.where and free and self.rng.random() < 0.15:
                party += self.rng.sample(free, min(len(free), self.rng.randint(1, 2)))
                for other in party[1:]:
                    idle.remove(other)
            completed = self._call(party, step)
            for member in party:
                busy.append((completed + SPREAD + 0.01, member))

    def _call(self, party: list[str], step: float) -> float:
        """One call by ``party`` taking effect at ``step``; returns when it completed."""
        invoked = step - self.rng.uniform(0, SPREAD)
        completed = step + self.rng.uniform(0, SPREAD)
        self._times[:] = [completed, invoked]  # popped from the end: invoked first
        lost = self.rng.random() < UNKNOWN_RATE
        runs = not lost or self.rng.random() < 0.5
        user = party[0]
        roll = self.rng.random()
        kind, lobby_id = "join", None
        operation: Callable[[tuple[str, ...]], Any] = self._join
        if user in self.where and roll < 0.45:
            kind, lobby_id, operation = "book", self.where[user], self._book
        elif user in self.where and roll < 0.9:
            kind, operation = "leave", self._leave
        elif user in self.where:
            kind = "join"  # refused: already in a lobby
        elif roll < 0.05 and len(party) == 1:
            kind, operation = "leave", self._leave  # refused: in no lobby

        def call() -> Any:
            result = operation(tuple(party)) if runs else None
            if lost:
                raise NoAnswer
            return result

        with contextlib.suppress(NoAnswer, AlreadyInLobby, LobbyNotFound):
            self.recorder.call(kind, party, call, lobby_id)
        return completed

    def _join(self, party: tuple[str, ...]) -> Lobby:
        for user in party:
            if user in self.where:
                raise AlreadyInLobby(user, self.where[user])
        room = [
            lid
            for lid in list(self.lobbies)[:4]
            if len(self.lobbies[lid]) + len(party) <= MAX_USERS
        ]
        if room:
            lobby_id = room[0]
        else:
            self._lobby_count += 1
            lobby_id = f"L{self._lobby_count:09d}"
            self.lobbies[lobby_id] = []
        self.lobbies[lobby_id] += party
        for user in party:
            self.where[user] = lobby_id
        members = tuple(self.lobbies[lobby_id])
        if len(members) == MAX_USERS:  # full: no longer offered to joins
            self.lobbies[lobby_id] = self.lobbies.pop(lobby_id)
        return Lobby(lobby_id, "s", members, MAX_USERS, 0)

    def _leave(self, party: tuple[str, ...]) -> None:
        user = party[0]
        lobby_id = self.where.pop(user, None)
        if lobby_id is None:
            raise LobbyNotFound("-")
        self.lobbies[lobby_id].remove(user)
        if not self.lobbies[lobby_id]:
            del self.lobbies[lobby_id]

    def _book(self, party: tuple[str, ...]) -> Booking:
        lobby_id = self.where[party[0]]
        members = tuple(self.lobbies.pop(lobby_id))
        for member in members:
            del self.where[member]
        self._request_count += 1
        booking = Booking(lobby_id, "s", members, 0, f"r{self._request_count}")
        self.bookings.append(booking)
        return booking

    def final(self) -> PoolSnapshot:
        lobbies = {
            lid: Lobby(lid, "s", tuple(users), MAX_USERS, 0) for lid, users in self.lobbies.items()
        }
        return PoolSnapshot(lobbies, None, None, list(self.bookings), None)


def history(operations: int, users: int, seed: int) -> tuple[list[Op], PoolSnapshot]:
    model = Model(random.Random(seed), [f"u{i}" for i in range(users)])
    model.run(operations)
    return model.recorder.ops, model.final()


Checker = Callable[[list[Op], PoolSnapshot], Any]


def checker_at(rev: str) -> Checker:
    """``check_history`` as it was at git revision ``rev``."""
    source = subprocess.run(
        ["git", "show", f"{rev}:lobbysim/checks/history.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "history_baseline.py"
    path.write_text(source)
    # Named inside lobbysim.checks so that its relative imports resolve.
    spec = importlib.util.spec_from_file_location("lobbysim.checks._history_baseline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    checker: Checker = module.check_history
    return checker


def timed(checker: Checker, ops: list[Op], end: PoolSnapshot) -> tuple[float, float, Any]:
    """(CPU seconds, wall seconds, verdict)."""
    wall, cpu = time.perf_counter(), time.process_time()
    verdict = checker(ops, end)
    return time.process_time() - cpu, time.perf_counter() - wall, verdict


def summary(verdict: Any) -> list[tuple[str, str]]:
    return sorted((str(f.violation), f.detail) for f in verdict.findings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--users", type=int, default=3_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--baseline-rev", help="also time check_history as of this git rev")
    parser.add_argument("--budget", type=float, default=120.0, help="seconds, per baseline run")
    parser.add_argument("--no-memory", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    baseline = checker_at(args.baseline_rev) if args.baseline_rev else None

    print(f"check_history, {args.users:,} users, seed {args.seed} (CPU s; wall s in brackets)")
    head = f"  {'ops':>9} {'unknown':>8} {'now: s':>18} {'µs/op':>7}"
    if baseline is not None:
        head += f" {'at ' + args.baseline_rev + ': s':>22} {'µs/op':>8}  same verdict"
    print(head)
    last: tuple[int, float] | None = None  # baseline's (ops, CPU s) at the last size it ran
    for size in sizes:
        ops, end = history(size, args.users, args.seed)
        cpu, wall, verdict = timed(check_history, ops, end)
        unknown = verdict.figures["unknown"]
        line = f"  {len(ops):>9,} {unknown:>8,} {cpu:>8.2f} ({wall:>7.2f}) {cpu / len(ops) * 1e6:>7.1f}"
        if not verdict.ok:
            line += f"  NOT CLEAN: {verdict.findings[:2]}"
        if baseline is not None:
            # Its growth so far (at least linear) says how long the next size would take.
            guess = 0.0 if last is None else last[1] * (len(ops) / last[0]) ** 2
            if guess > args.budget:
                line += f" {'skipped (~' + format(guess, '.0f') + ' s)':>22}"
            else:
                b_cpu, b_wall, b_verdict = timed(baseline, ops, end)
                last = (len(ops), b_cpu)
                same = summary(b_verdict) == summary(verdict)
                line += f" {b_cpu:>10.2f} ({b_wall:>8.2f}) {b_cpu / len(ops) * 1e6:>8.1f}  {same}"
        print(line, flush=True)

    if not args.no_memory:
        size = sizes[-1]
        del ops, end
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        ops, end = history(size, args.users, args.seed)
        held = tracemalloc.get_traced_memory()[0] - before
        print(
            f"memory of the recorded operations at {len(ops):,} ops (tracemalloc, with their "
            f"Lobby and Booking answers): {held / 2**20:.1f} MiB, {held / len(ops):.0f} B/op"
        )
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        check_history(ops, end)
        peak = tracemalloc.get_traced_memory()[1] - before
        tracemalloc.stop()
        print(
            f"check_history's peak memory on them, beyond the history: {peak / 2**20:.1f} MiB, "
            f"{peak / len(ops):.0f} B/op"
        )


if __name__ == "__main__":
    main()
