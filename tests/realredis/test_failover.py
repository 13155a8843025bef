"""Failover without silent loss, on real redis-server processes under load.

Standalone: a primary and a replica whose replication link runs through a proxy. Threads,
each with its own store whose client goes through a second proxy, join, leave and book on
a pool with limited seats; the replication link is black-holed for a while (the primary
goes on acknowledging writes the replica never gets), the primary is killed (SIGKILL),
the replica promoted (REPLICAOF NO ONE) and the clients' proxy switched to it: the same
store objects now talk to the promoted server. The default store refuses the rolled-back
pool (PoolRolledBack) and writes nothing there: no lost booking's lobby is booked again,
no seat is sold after the failover. With ``wait_replicas=1`` nothing acknowledged is lost
(the history checker, against the promoted server's pool): a write no replica confirmed
raised NotConfirmed, which counts as unknown, never as a success.

Cluster: 3 primaries with a replica each, a pool in 3 shards. A primary whose replica
lags is stalled (DEBUG SLEEP) and the replica forced to take over (CLUSTER FAILOVER
FORCE): the stores of its shards are refused there and nothing is written on them, while
the other shards go on; with ``wait_replicas=1`` nothing acknowledged is lost (each
WAIT goes to the primary that ran the call). A primary killed (SIGKILL): the stores get
connection errors or retryable refusals, never another error, and are answered again once
the replica took over; on loopback the replica had nearly caught up, so the default store
loses nothing or the last few writes, which a store that saw them refuses to build on;
with ``wait_replicas=1`` nothing acknowledged is lost.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis

from lobbycore import (
    Booking,
    LobbyStore,
    NotConfirmed,
    PoolRolledBack,
    PoolStateLost,
    ServerRefused,
    connect,
    pool_prefix,
)
from lobbycore._sharding import shard_of
from lobbycore.audit import History, PoolSnapshot, snapshot
from lobbycore.violations import Verdict, Violation
from lobbysim.checks.calls import FAIL, OK
from lobbysim.checks.history import Op, Recorder, check_history
from lobbysim.testing import RedisClusterProcesses, RedisServer
from tests.damage import Dump, _scan, dump

from .harness import EXPECTED, Mix, Plan, Tally, Worker, _recorded, in_threads
from .proxy import Proxy
from .test_rollback import wait_in_sync

THREADS = 4
USERS_PER_WORKER = 6
MAX_USERS = 4
SEATS = 20_000  # limited, but more than a run sells: every booking is a sale
WAIT_TIMEOUT = 0.2
BEFORE = 0.5  # seconds of load before the replication link is cut
CUT = 1.2  # seconds the link stays black-holed before the primary is killed
REFUSALS = 5  # each thread stops once the promoted server refused it this many times
SETTLE = 5.0  # the load is stopped this long after the clients moved, if not done by then
PACE = 0.002  # seconds each thread waits between calls: the history checker's time grows
# faster than the history's length, and a few thousand calls show all there is to see
LOSSES = {Violation.LOST_BOOKING, Violation.LOST_JOIN, Violation.LOST_LEAVE}


class Unconfirmed(Exception):
    """A NotConfirmed as a history sees it: no answer (the write may or may not survive a
    failover), neither a success nor a refusal. Not a LobbyError, so the Recorder counts
    it as unanswered."""


class Confirmed:
    """A store whose NotConfirmed is raised as :class:`Unconfirmed`."""

    def __init__(self, store: LobbyStore) -> None:
        self._store = store

    @property
    def shards(self) -> int:
        return self._store.shards

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._store, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except NotConfirmed as exc:
                raise Unconfirmed(str(exc)) from exc

        return call


UNANSWERED = (redis.ConnectionError, redis.TimeoutError, Unconfirmed)


@dataclass
class Load:
    """Threads (one per store) doing joins, party joins, leaves and bookings, each call
    recorded for the history checker, until ``stop``, or until the server refused the
    thread (PoolStateLost, PoolRolledBack) ``REFUSALS`` times after ``moved``. Any error
    other than a LobbyError or an unanswered call (see UNANSWERED) ends the run: it is
    raised by :meth:`finish`.

    A store refuses a pool it found rolled back without asking again, so only its first
    call to a promoted server shows whether that server would let it write: the threads
    can be parked between two calls (:meth:`park`) and given that first call
    (``probes``) before they go on (:meth:`unpark`)."""

    stores: list[LobbyStore]
    recorder: Recorder = field(default_factory=lambda: Recorder(unanswered=UNANSWERED))
    tally: Tally = field(default_factory=Tally)
    moved: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    refused_after_move: list[int] = field(default_factory=list)
    troubles: list[tuple[int, float]] = field(default_factory=list)
    """(thread, when) of each call that got no answer or a retryable refusal."""
    heard: list[tuple[int, float]] = field(default_factory=list)
    """(thread, when it was made) of each call the server answered: a result, a typed
    refusal of the call (SoldOut, ...), or a result it could not confirm (NotConfirmed)."""
    probes: dict[int, Plan] = field(default_factory=dict)
    """Thread -> the call it makes first once unparked."""
    probed: list[Plan] = field(default_factory=list)
    rollbacks: list[PoolRolledBack] = field(default_factory=list)
    refusals: Counter[str] = field(default_factory=Counter)
    """ServerRefused codes met."""
    error: BaseException | None = None

    def __post_init__(self) -> None:
        self.refused_after_move = [0] * len(self.stores)
        self._held: set[int] = set()
        self._parked: set[int] = set()
        self._released = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def park(self, threads: Iterable[int]) -> None:
        """Lets each of ``threads`` end the call it is in, then waits until all wait."""
        self._held = set(threads)
        wait_until(lambda: self._parked >= self._held or not self._thread.is_alive(), SETTLE)

    def unpark(self) -> None:
        self._released.set()

    def __enter__(self) -> Load:
        return self

    def __exit__(self, *exc_info: object) -> None:
        # A scenario that failed midway must not leave its threads calling dead servers.
        self.stop.set()
        self._released.set()
        self._thread.join(timeout=30)

    def finish(self, until: Callable[[], bool] = lambda: False) -> None:
        """Stops the threads once ``until()`` holds, or once every thread stopped on its
        own, or after ``SETTLE`` s, and waits for them."""
        deadline = time.monotonic() + SETTLE
        while self._thread.is_alive() and not until() and time.monotonic() < deadline:
            time.sleep(0.02)
        self.stop.set()
        self._thread.join(timeout=30)
        assert not self._thread.is_alive(), "the load did not stop"
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            in_threads(len(self.stores), self._work)
        except BaseException as exc:  # raised again by finish()
            self.error = exc

    def _work(self, k: int) -> None:
        store, tally = Confirmed(self.stores[k]), self.tally
        worker = Worker(k, USERS_PER_WORKER, MAX_USERS, Mix(), seed=k, shards=store.shards)
        told = History()  # the worker's own view of its users; the recorder keeps the history
        while not self.stop.wait(PACE):
            if k in self._held and not self._released.is_set():
                self._parked.add(k)
                self._released.wait(timeout=30)
            probe = self.probes.pop(k, None)
            if probe is not None:
                self.probed.append(probe)
            plan = probe or worker.next()
            sent = time.monotonic()
            try:
                result = _recorded(store, plan, MAX_USERS, self.recorder)
            except PoolStateLost as exc:
                worker.failed(plan, exc, tally)
                if isinstance(exc, PoolRolledBack):
                    self.rollbacks.append(exc)
                if self.moved.is_set():
                    self.refused_after_move[k] += 1
                    if self.refused_after_move[k] >= REFUSALS:
                        return
            except (ServerRefused, *UNANSWERED) as exc:
                if isinstance(exc, ServerRefused):
                    if not exc.retryable:
                        raise
                    self.refusals[exc.code] += 1
                self.troubles.append((k, time.monotonic()))
                if isinstance(exc, Unconfirmed):
                    self.heard.append((k, sent))
                worker.failed(plan, exc, tally)
            except EXPECTED as exc:
                self.heard.append((k, sent))
                worker.failed(plan, exc, tally)
            else:
                self.heard.append((k, sent))
                worker.done(plan, result, told, tally)

    def count(self, outcome: str) -> int:
        """Calls that ended in ``outcome`` (an exception's name), whatever their kind."""
        return sum(n for what, n in self.tally.ops.items() if what.endswith(f":{outcome}"))

    def answered_since(self, k: int, since: float) -> bool:
        """Whether the server answered a call of thread ``k`` made after ``since``."""
        return any(j == k and sent > since for j, sent in list(self.heard))


@dataclass
class Failover:
    """What a run saw: its load, and the promoted server's pool when the clients moved to
    it and at the end."""

    load: Load
    cut: float
    at_promotion: Dump
    after: Dump
    promoted: PoolSnapshot
    final: PoolSnapshot

    @property
    def ops(self) -> list[Op]:
        return self.load.recorder.ops

    def answered_after_cut(self) -> list[Op]:
        """Writes acknowledged although sent after the link was cut: the replica never had them."""
        return [op for op in self.ops if op.outcome == OK and op.invoked > self.cut]

    def check(self) -> Verdict:
        return check_history(self.ops, self.final)


def fail_over_standalone(wait_replicas: int) -> Failover:
    pool = f"fo-{uuid.uuid4().hex[:8]}"
    with (
        RedisServer("--repl-diskless-sync-delay", "0") as primary,
        RedisServer() as replica,
        Proxy(primary.port) as link,
        Proxy(primary.port) as front,
    ):
        admin = primary.client(socket_timeout=10)
        follower = replica.client(socket_timeout=10)
        follower.replicaof("127.0.0.1", str(link.port))
        LobbyStore(admin, pool=pool, lobby_ttl=None).set_seats(SEATS)
        wait_in_sync(follower, admin)
        url = f"redis://127.0.0.1:{front.port}/0"
        stores = [
            LobbyStore(
                connect(url, cluster=False),
                pool=pool,
                lobby_ttl=None,
                wait_replicas=wait_replicas,
                wait_timeout=WAIT_TIMEOUT,
            )
            for _ in range(THREADS)
        ]
        with Load(stores) as load:
            time.sleep(BEFORE)
            cut = time.monotonic()
            link.blackhole()
            time.sleep(CUT)
            primary.kill()
            link.switch(None)
            front.switch(None)
            load.park(range(THREADS))  # each ends the call it was in: no answer
            follower.replicaof("NO", "ONE")
            at_promotion, promoted = dump(follower, pool), snapshot(follower, pool)
            load.probes = probes(load, range(THREADS), cut, promoted)
            front.switch(replica.port)
            load.moved.set()
            load.unpark()
            load.finish()
            failover = Failover(
                load,
                cut,
                at_promotion,
                dump(follower, pool),
                promoted,
                snapshot(follower, pool),
            )
            for store in stores:
                store.client.close()
            admin.close()
            follower.close()
    return failover


def probes(
    load: Load, threads: Iterable[int], cut: float, promoted: PoolSnapshot
) -> dict[int, Plan]:
    """The first call of each of ``threads`` to the promoted server, one that writes on any
    pool that lets it: a booking, under a new request id, of a lobby holding one of the
    thread's users that was booked after the cut (an answered or an unconfirmed booking)
    and that the promoted server holds unbooked: a resale; else a newcomer's join."""
    lost = {
        op.lobby_id
        for op in list(load.recorder.ops)
        if op.kind == "book" and op.outcome != FAIL and op.invoked > cut
    }
    chosen: dict[int, Plan] = {}
    for k in threads:
        mine = f"w{k}-"
        resale = [
            (user, lobby.id)
            for lobby in promoted.lobbies.values()
            if lobby.id in lost
            for user in lobby.users
            if user.startswith(mine)
        ]
        if resale:
            user, lobby_id = resale[0]
            chosen[k] = Plan("book", (user,), lobby_id)
        else:
            shards = load.stores[k].shards
            names = (f"{mine}new{i}" for i in range(1000))
            newcomer = next(u for u in names if shard_of(u, shards) == k % shards)
            chosen[k] = Plan("join", (newcomer,))
    return chosen


def record(request: pytest.FixtureRequest, load: Load, verdict: Verdict | None = None) -> None:
    """The run's figures among the test's report properties (``--junitxml`` shows them):
    calls by kind and outcome, the probes sent, the history checker's findings and figures."""
    figures: list[tuple[str, object]] = [
        ("calls", dict(sorted(load.tally.ops.items()))),
        ("probes", sorted(plan.op for plan in load.probed)),
        ("refusals", dict(load.refusals)),
    ]
    if verdict is not None:
        figures.append(("findings", {str(k): n for k, n in verdict.counts().items()}))
        figures.append(("history", dict(verdict.figures)))
    request.node.user_properties.extend(figures)


def lost_bookings(ops: list[Op], final: PoolSnapshot) -> tuple[list[Booking], list[Booking]]:
    """The answered bookings missing from the pool's bookings record, and those of them whose
    lobby the record shows booked by another call (a lobby sold twice)."""
    recorded = {(b.lobby_id, b.request_id) for b in final.bookings}
    booked = {b.lobby_id for b in final.bookings}
    answered = [op.booking for op in ops if op.booking is not None]
    lost = [b for b in answered if (b.lobby_id, b.request_id) not in recorded]
    return lost, [b for b in lost if b.lobby_id in booked]


def test_the_default_store_refuses_a_promoted_lagging_replica_and_writes_nothing(
    request: pytest.FixtureRequest,
) -> None:
    failover = fail_over_standalone(wait_replicas=0)
    load, verdict = failover.load, failover.check()
    record(request, load, verdict)
    # Every running store was refused by the promoted server, which kept what it had at
    # promotion: nothing was written after the rollback, so nothing was sold since. The
    # first call of each there would have written (see probes), and one or more of them
    # booked again a lobby whose answered booking the failover had lost.
    assert failover.after == failover.at_promotion
    assert failover.final.bookings == failover.promoted.bookings
    assert len(load.probed) == THREADS and any(p.op == "book" for p in load.probed)
    assert load.refused_after_move == [REFUSALS] * THREADS, load.tally.ops
    assert load.count("PoolRolledBack") >= REFUSALS * THREADS
    assert load.count("PoolStateLost") == 0  # the same epoch: rolled back, not replaced
    # No answered booking that the failover lost has its lobby booked by another call, and
    # the promoted server's seats add up.
    lost, resold = lost_bookings(failover.ops, failover.final)
    assert resold == []
    sold = sum(len(b.users) for b in failover.final.bookings)
    assert failover.final.seats_left == SEATS - sold

    # What makes the above meaningful: the default store acknowledged writes the replica
    # never had, and the history checker finds them lost (the documented loss), only that.
    assert lost and failover.answered_after_cut()
    assert verdict.findings and set(verdict.counts()) <= LOSSES, verdict.counts()


def test_with_wait_replicas_nothing_acknowledged_is_lost(request: pytest.FixtureRequest) -> None:
    failover = fail_over_standalone(wait_replicas=1)
    load, verdict = failover.load, failover.check()
    record(request, load, verdict)
    # Every answered join, leave and booking is in the promoted server's pool: the history
    # checker (an unconfirmed call counts as unanswered) finds nothing lost.
    assert verdict.ok, [str(f) for f in verdict.findings[:5]]
    lost, _ = lost_bookings(failover.ops, failover.final)
    assert lost == []
    # Once the link was cut nothing was acknowledged: each write raised NotConfirmed.
    assert failover.answered_after_cut() == []
    assert load.count("Unconfirmed") > 0
    # The stores saw the unconfirmed writes' sequences too: they refuse the promoted pool
    # (PoolRolledBack) rather than build on it, their first call there (a write) included.
    assert failover.after == failover.at_promotion
    assert len(load.probed) == THREADS
    assert load.refused_after_move == [REFUSALS] * THREADS, load.tally.ops


# A Redis Cluster of 3 primaries, each with a replica, and a pool split in 3 shards. The
# harness's Worker k lives in shard k % SHARDS: two threads per shard.
SHARDS = 3
CLUSTER_THREADS = 6
NODE_TIMEOUT_MS = 1000  # how long a primary may be unreachable before its replica takes over
STALL = 1.5  # seconds the stalled primary sleeps (DEBUG SLEEP)
TAKEOVER = 20.0  # bound for a replica to take over from a killed primary


@dataclass
class ShardedPool:
    """A sharded pool on a cluster with replicas, and the primary of its shard 0 (the one a
    test fails over): which shards live there, which threads use them."""

    cluster: RedisClusterProcesses
    pool: str
    admin: Any
    victim: RedisServer
    replica: RedisServer
    victim_shards: list[int]

    @classmethod
    def make(cls, cluster: RedisClusterProcesses) -> ShardedPool:
        pool = f"fo-{uuid.uuid4().hex[:8]}"
        admin = connect(f"redis://127.0.0.1:{cluster.ports[0]}/0", cluster=True)
        LobbyStore(admin, pool=pool, lobby_ttl=None, shards=SHARDS).set_seats(SEATS)
        owners = [
            admin.get_node_from_key(pool_prefix(pool, i, SHARDS) + "meta").port
            for i in range(SHARDS)
        ]
        victim = next(node for node in cluster.nodes if node.port == owners[0])
        victim_shards = [i for i in range(SHARDS) if owners[i] == victim.port]
        return cls(cluster, pool, admin, victim, cluster.replica_of(victim), victim_shards)

    def stores(self, wait_replicas: int = 0) -> list[LobbyStore]:
        url = f"redis://127.0.0.1:{self.cluster.ports[0]}/0"
        return [
            LobbyStore(
                connect(url, cluster=True),
                pool=self.pool,
                lobby_ttl=None,
                shards=SHARDS,
                wait_replicas=wait_replicas,
                wait_timeout=WAIT_TIMEOUT,
            )
            for _ in range(CLUSTER_THREADS)
        ]

    @property
    def victim_threads(self) -> list[int]:
        return [k for k in range(CLUSTER_THREADS) if k % SHARDS in self.victim_shards]

    def state(self, node: RedisServer) -> dict[str, Any]:
        """Every key of the victim's shards on ``node``, with a digest of its value."""
        with node.client(socket_timeout=10) as client:
            keys = [
                key
                for shard in self.victim_shards
                for key in _scan(client, pool_prefix(self.pool, shard, SHARDS))
            ]
            digests = client.execute_command("DEBUG", "DIGEST-VALUE", *keys) if keys else []
        return dict(zip(keys, digests, strict=True))

    def final(self) -> PoolSnapshot:
        return snapshot(self.admin, self.pool, shards=SHARDS)


@contextmanager
def cluster_with_replicas() -> Iterator[RedisClusterProcesses]:
    processes = RedisClusterProcesses(
        3,
        replicas=1,
        node_timeout_ms=NODE_TIMEOUT_MS,
        extra_args=("--enable-debug-command", "local"),
    )
    try:
        yield processes.start()
    finally:
        processes.close()


def wait_until(condition: Callable[[], bool], bound: float) -> float:
    """Polls ``condition`` until it holds (failing after ``bound`` s); when it did."""
    deadline = time.monotonic() + bound
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
    return time.monotonic()


@dataclass
class ClusterFailover:
    """What a forced failover on the cluster saw: its load, when the link was cut and the
    clients moved, the failed-over shards' keys on the new primary at promotion and at the
    end, and the whole pool at the end."""

    load: Load
    victims: list[int]
    cut: float
    moved: float
    at_promotion: dict[str, Any]
    after: dict[str, Any]
    final: PoolSnapshot

    def answered_after_cut(self) -> list[Op]:
        """Writes to the failed-over shards acknowledged after their replica's link was cut."""
        mine = tuple(f"w{k}-" for k in self.victims)
        return [
            op
            for op in self.load.recorder.ops
            if op.outcome == OK and op.invoked > self.cut and op.users[0].startswith(mine)
        ]

    def check(self) -> Verdict:
        return check_history(self.load.recorder.ops, self.final)


def force_failover(wait_replicas: int) -> ClusterFailover:
    with cluster_with_replicas() as cluster:
        sharded = ShardedPool.make(cluster)
        stores = sharded.stores(wait_replicas)
        with Load(stores) as load:
            time.sleep(BEFORE)
            # On loopback a replica is nearly in step: to make it miss acknowledged writes, its
            # link is cut (refused at its next handshake by a wrong password, it keeps its data
            # and gets nothing more) while the primary goes on acknowledging.
            with sharded.replica.client(socket_timeout=10) as follower:
                follower.config_set("masterauth", "not-the-password")
                with sharded.victim.client(socket_timeout=10) as primary:
                    primary.execute_command("CLIENT", "KILL", "TYPE", "replica")
                cut = time.monotonic()
                time.sleep(CUT)
                # The primary stalls, and its replica is forced to take over without it. The
                # threads of its shards are parked meanwhile, so that the first call of each
                # to the new primary is its probe; the other shards' go on.
                victims = sharded.victim_threads
                load.park(victims)
                stalled = threading.Thread(target=stall, args=(sharded.victim,))
                stalled.start()
                follower.execute_command("CLUSTER", "FAILOVER", "FORCE")
                wait_until(lambda: cluster.role(sharded.replica) == "master", TAKEOVER)
            at_promotion = sharded.state(sharded.replica)
            stalled.join()  # it wakes up, learns it was replaced, and follows the new primary
            wait_until(lambda: cluster.role(sharded.victim) == "slave", TAKEOVER)
            load.probes = probes(load, victims, cut, sharded.final())
            moved = time.monotonic()
            load.moved.set()
            load.unpark()
            load.finish(until=lambda: all(load.refused_after_move[k] >= REFUSALS for k in victims))
            failover = ClusterFailover(
                load,
                victims,
                cut,
                moved,
                at_promotion,
                sharded.state(sharded.replica),
                sharded.final(),
            )
            for store in stores:
                store.client.close()
            sharded.admin.close()
    return failover


def test_cluster_forced_failover_to_a_lagging_replica_is_refused_never_resold(
    request: pytest.FixtureRequest,
) -> None:
    failover = force_failover(wait_replicas=0)
    load, victims, verdict = failover.load, failover.victims, failover.check()
    record(request, load, verdict)
    # Every store using the failed-over shards was refused there (PoolRolledBack), and
    # nothing was written on them since the promotion: no lobby booked again, no seat sold,
    # though the first call of each there would have written (see probes).
    assert failover.after == failover.at_promotion
    assert len(load.probed) == len(victims)
    assert [k for k, n in enumerate(load.refused_after_move) if n] == victims, load.tally.ops
    assert all(load.refused_after_move[k] == REFUSALS for k in victims)
    assert load.count("PoolStateLost") == 0
    lost, resold = lost_bookings(load.recorder.ops, failover.final)
    assert resold == []
    # The other shards went on.
    others = [k for k in range(CLUSTER_THREADS) if k not in victims]
    assert all(load.answered_since(k, failover.moved) for k in others)

    # What makes it meaningful: acknowledged writes were lost (the documented loss of the
    # default store), which the history checker finds, and only that.
    assert lost and failover.answered_after_cut()
    assert verdict.findings and set(verdict.counts()) <= LOSSES, verdict.counts()


def test_cluster_forced_failover_with_wait_replicas_loses_nothing_acknowledged(
    request: pytest.FixtureRequest,
) -> None:
    failover = force_failover(wait_replicas=1)
    load, victims, verdict = failover.load, failover.victims, failover.check()
    record(request, load, verdict)
    # Every answered call is in the pool after the failover (unconfirmed: unanswered).
    assert verdict.ok, [str(f) for f in verdict.findings[:5]]
    assert lost_bookings(load.recorder.ops, failover.final) == ([], [])
    # Once the link was cut the failed-over shards acknowledged nothing: NotConfirmed.
    assert failover.answered_after_cut() == []
    assert load.count("Unconfirmed") > 0
    # Their stores refuse the new primary, which misses their unconfirmed writes, their
    # first call there (a write) included; the other shards went on, confirmed by their
    # replicas.
    assert failover.after == failover.at_promotion
    assert len(load.probed) == len(victims)
    assert [k for k, n in enumerate(load.refused_after_move) if n] == victims, load.tally.ops
    others = [k for k in range(CLUSTER_THREADS) if k not in victims]
    assert all(load.answered_since(k, failover.moved) for k in others)


def stall(node: RedisServer) -> None:
    with node.client(socket_timeout=STALL + 10) as client:
        client.execute_command("DEBUG", "SLEEP", str(STALL))


@pytest.mark.parametrize("wait_replicas", [0, 1])
def test_cluster_primary_killed_typed_errors_then_answered_again(
    request: pytest.FixtureRequest, wait_replicas: int
) -> None:
    with cluster_with_replicas() as cluster:
        sharded = ShardedPool.make(cluster)
        stores = sharded.stores(wait_replicas)
        with Load(stores) as load:
            time.sleep(BEFORE)
            killed = time.monotonic()
            sharded.victim.kill()
            took_over = wait_until(lambda: cluster.role(sharded.replica) == "master", TAKEOVER)
            load.moved.set()

            def answered_again_or_refused() -> bool:
                return all(
                    load.answered_since(k, took_over) or load.refused_after_move[k]
                    for k in range(CLUSTER_THREADS)
                )

            # An error that is neither a LobbyError (a retryable ServerRefused, during a
            # failover) nor the documented unanswered call (redis.ConnectionError,
            # redis.TimeoutError) would end the load and be raised here.
            load.finish(until=answered_again_or_refused)
            final = sharded.final()
            for store in stores:
                store.client.close()
            sharded.admin.close()

    verdict = check_history(load.recorder.ops, final)
    record(request, load, verdict)
    request.node.user_properties.append(("takeover_s", round(took_over - killed, 2)))
    # The threads of the killed primary's shards were told while it was down, and the
    # server answered every thread again once the replica took over (with wait_replicas,
    # unconfirmed: the new primary has no replica), unless its store was refused.
    victims = sharded.victim_threads
    assert [k for k, when in load.troubles if k in victims and when > killed]
    assert answered_again_or_refused(), load.tally.ops
    assert load.count("PoolStateLost") == 0
    # On loopback the replica is nearly in step, but a kill may still lose what the primary
    # answered in its last instant (it may answer a client before it writes to its
    # replicas): a store that saw it is then refused by the new primary (PoolRolledBack),
    # and the writes lost are the last few, one per client at most (each has one call in
    # flight); a store that did not see them goes on (see PoolRolledBack). With
    # wait_replicas nothing acknowledged is lost.
    assert all(e.seen - e.sequence <= CLUSTER_THREADS for e in load.rollbacks), load.rollbacks
    if wait_replicas:
        assert verdict.ok, [str(f) for f in verdict.findings[:5]]
