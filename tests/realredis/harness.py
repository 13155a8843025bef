"""A concurrent mixed workload (joins, party joins, leaves, bookings) and its audit.

Each simulated user belongs to exactly one worker (thread or asyncio task), so a user's
operations never overlap, which is what :class:`lobbycore.audit.History` needs. Workers
share lobbies, so bookings race with joins and leaves of other workers' users.
The same harness runs against the naive store to prove that the checks can fail.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis

from lobbycore import AlreadyBooked, AlreadyInLobby, LobbyNotFound, SoldOut
from lobbycore._sharding import shard_of
from lobbycore.audit import History, Verdict, check, snapshot
from lobbysim.checks.history import Recorder


@dataclass
class Mix:
    """Relative weights of the operations a worker picks from."""

    join: int = 6
    party: int = 2
    leave: int = 2
    book: int = 2


@dataclass
class Tally:
    ops: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str) -> None:
        with self.lock:
            self.ops[name] += 1


@dataclass
class Plan:
    """What a worker does next, decided from its own (possibly stale) view of its users."""

    op: str
    users: tuple[str, ...] = ()
    lobby_id: str | None = None
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    """A booking's id, kept across retries so that a retried booking is answered, not redone."""


class Worker:
    def __init__(
        self,
        index: int,
        users_per_worker: int,
        max_users: int,
        mix: Mix,
        seed: int,
        shards: int = 1,
    ) -> None:
        # On a sharded pool a worker's users share a shard (so its parties are placeable),
        # and the workers are spread over the shards.
        names = (f"w{index}-u{i}" for i in itertools.count())
        self.users = list(
            itertools.islice(
                (u for u in names if shard_of(u, shards) == index % shards), users_per_worker
            )
        )
        self.where: dict[str, str] = {}  # user -> lobby id, as this worker last heard
        self.max_users = max_users
        self.rng = random.Random(seed * 1_000_003 + index)
        self.mix = mix

    def next(self) -> Plan:
        free = [u for u in self.users if u not in self.where]
        placed = [u for u in self.users if u in self.where]
        choices = ["join"] * self.mix.join + ["party"] * self.mix.party
        choices += ["leave"] * self.mix.leave + ["book"] * self.mix.book
        op = self.rng.choice(choices)
        if op in ("leave", "book") and not placed:
            op = "join"
        if op == "party" and len(free) < 2:
            op = "join"
        if op == "join":
            return Plan("join", (self.rng.choice(free or self.users),))
        if op == "party":
            size = self.rng.randint(2, min(len(free), self.max_users, 3))
            return Plan("party", tuple(self.rng.sample(free, size)))
        user = self.rng.choice(placed)
        if op == "leave":
            return Plan("leave", (user,))
        return Plan("book", (user,), self.where[user])

    def done(self, plan: Plan, result: Any, history: History, tally: Tally) -> None:
        """Record an operation's outcome (called only after it completed)."""
        tally.add(plan.op)
        if plan.op in ("join", "party"):
            history.joined(plan.users, result)
            for user in plan.users:
                self.where[user] = result.id
        elif plan.op == "leave":
            history.left(plan.users[0])
            self.where.pop(plan.users[0], None)
        elif plan.op == "book":
            if result is not None:
                history.booked(result)
            for user, lobby_id in list(self.where.items()):
                if lobby_id == plan.lobby_id:
                    del self.where[user]

    def failed(self, plan: Plan, exc: Exception, tally: Tally) -> None:
        tally.add(f"{plan.op}:{type(exc).__name__}")
        if plan.op == "book":
            for user, lobby_id in list(self.where.items()):
                if lobby_id == plan.lobby_id:
                    del self.where[user]


EXPECTED = (AlreadyBooked, AlreadyInLobby, LobbyNotFound, SoldOut)
UNANSWERED = (redis.ConnectionError, redis.TimeoutError)
RETRIES = 20
RETRY_PAUSE = 0.1


def _recorded(store: Any, plan: Plan, max_users: int, recorder: Recorder | None) -> Any:
    if recorder is None:
        return _call_sync(store, plan, max_users)
    kind = "join" if plan.op in ("join", "party") else plan.op
    return recorder.call(
        kind, plan.users, lambda: _call_sync(store, plan, max_users), plan.lobby_id
    )


def call_with_retries(
    store: Any, plan: Plan, max_users: int, history: History, recorder: Recorder | None = None
) -> Any:
    """What a careful client does when a call gets no answer: retry the same call (every
    lobbycore call is safe to replay; a booking keeps its request id), up to a limit.
    Each unanswered attempt is noted: it may have taken effect."""
    for attempt in range(RETRIES):
        try:
            return _recorded(store, plan, max_users, recorder)
        except UNANSWERED:
            history.unknown(plan.users)
            if attempt == RETRIES - 1:
                raise
            time.sleep(RETRY_PAUSE)
    raise AssertionError("unreachable")


def in_threads(count: int, work: Callable[[int], None]) -> None:
    """Run ``work(0)`` .. ``work(count - 1)`` in threads released at once; re-raise any error."""
    start = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(k: int) -> None:
        try:
            start.wait()
            work(k)
        except BaseException as exc:  # surfaced below: a crash must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def _call_sync(store: Any, plan: Plan, max_users: int) -> Any:
    if plan.op == "join":
        return store.find_or_create_lobby(plan.users[0], max_users)
    if plan.op == "party":
        return store.join_party(plan.users, max_users)
    if plan.op == "leave":
        return store.leave_lobby(plan.users[0])
    return store.book_ticket(plan.lobby_id, plan.request_id)


async def _call_async(store: Any, plan: Plan, max_users: int) -> Any:
    if plan.op == "join":
        return await store.find_or_create_lobby(plan.users[0], max_users)
    if plan.op == "party":
        return await store.join_party(plan.users, max_users)
    if plan.op == "leave":
        return await store.leave_lobby(plan.users[0])
    return await store.book_ticket(plan.lobby_id)


@dataclass
class RunResult:
    report: Verdict
    tally: Tally
    history: History


def run_threads(
    store: Any,
    audit_client: Any,
    *,
    threads: int,
    ops_per_thread: int,
    users_per_worker: int = 6,
    max_users: int = 4,
    mix: Mix | None = None,
    naive: bool = False,
    initial_seats: int | None = None,
    seed: int = 1,
    retry: bool = False,
    recorder: Recorder | None = None,
) -> RunResult:
    history, tally = History(), Tally()
    shards = store.shards
    workers = [
        Worker(i, users_per_worker, max_users, mix or Mix(), seed, shards) for i in range(threads)
    ]

    def run(k: int) -> None:
        worker = workers[k]
        for _ in range(ops_per_thread):
            plan = worker.next()
            try:
                if retry:
                    result = call_with_retries(store, plan, max_users, history, recorder)
                else:
                    result = _recorded(store, plan, max_users, recorder)
            except EXPECTED as exc:
                worker.failed(plan, exc, tally)
            except UNANSWERED as exc:
                if not retry:
                    raise
                worker.failed(plan, exc, tally)  # given up: it may or may not have happened
            else:
                worker.done(plan, result, history, tally)

    in_threads(threads, run)
    snap = snapshot(audit_client, store.pool, naive=naive, shards=shards)
    return RunResult(check(snap, history, initial_seats=initial_seats), tally, history)


async def run_tasks(
    store: Any,
    audit_client: Any,
    *,
    tasks: int,
    ops_per_task: int,
    users_per_worker: int = 3,
    max_users: int = 4,
    mix: Mix | None = None,
    naive: bool = False,
    seed: int = 1,
) -> RunResult:
    history, tally = History(), Tally()
    shards = store.shards
    workers = [
        Worker(i, users_per_worker, max_users, mix or Mix(), seed, shards) for i in range(tasks)
    ]
    gate = asyncio.Event()

    async def run(worker: Worker) -> None:
        await gate.wait()
        for _ in range(ops_per_task):
            plan = worker.next()
            try:
                result = await _call_async(store, plan, max_users)
            except EXPECTED as exc:
                worker.failed(plan, exc, tally)
            else:
                worker.done(plan, result, history, tally)

    running = [asyncio.create_task(run(w)) for w in workers]
    await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(*running)
    snap = snapshot(audit_client, store.pool, naive=naive, shards=shards)
    return RunResult(check(snap, history), tally, history)
