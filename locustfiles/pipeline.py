"""Auto-pipelining for gevent: the Locust client's way to Redis.

Calls made by concurrent users while a round trip is in flight wait for the next one and go
out together, as one pipelined write on one of a few connections (no MULTI: each script is
still its own atomic call). Each caller still waits for, and times, its own reply. This is
the gevent twin of lobbycore's asyncio auto-pipeline, a transport of lobbycore's
(:mod:`lobbycore.transport`: what to send and what each reply means is decided there, this
module only does the I/O); it lives here, not in lobbycore, because it relies on gevent's
hub.

Why: a per-call client pays a socket write, a socket read and a wake-up of gevent's hub for
every call, plus redis-py's per-command bookkeeping, and needs one connection per concurrent
user. Here one write and one read carry a whole batch, and a handful of connections serve
thousands of users.

On a Redis Cluster (:class:`ClusterAutoPipeline`) calls are batched per primary: the slot of
a call's first key (its (sub-)pool's stats key; every key of a (sub-)pool shares one hash
tag) picks the primary, in the client's slot map, and each primary's batches go out on its
own connections. A call redirected (``MOVED``, ``ASK``) or cut off with its batch is sent
again on its own route, as :class:`lobbycore.transport.Redirected` says (the slot map
refreshed, or ``ASKING`` first; a bounded number of attempts): only those calls, since the
others of the batch have their replies.
"""

from __future__ import annotations

from collections import deque
from typing import Any, TypeVar

import gevent
import hiredis
import redis
from gevent import getcurrent
from gevent.event import Event
from gevent.greenlet import Greenlet
from gevent.hub import Waiter, get_hub
from redis.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError, SlotNotCoveredError
from redis.exceptions import TimeoutError as RedisTimeoutError

from lobbycore import LobbyStore
from lobbycore.defaults import DEFAULT_WAIT_REPLICAS, DEFAULT_WAIT_TIMEOUT
from lobbycore.transport import Command, Dispatch, Redirected, ScriptCall, ScriptSender, send_routed

T = TypeVar("T")

DRAIN_SECONDS = 10.0

MAX_BATCH = 16
"""Calls per round trip at most. Users woken by one batch's replies send their next calls
together; with no cap each batch held nearly every user, so Redis ran a batch while Locust
waited, then Locust handled its replies while Redis waited: they took turns (their CPU
summed to one core while the rate stalled). Capped, the next batch goes out while Locust
handles the last one's replies. Measured (one Locust process on core 0, Redis on core 1,
10 s runs interleaved): OpenJoins at 12,711 joins/s offered by 50 users reached 3,372-6,191
uncapped and 7,408-10,009 at 16; JoinStorm at 500 users 5,592-7,396 uncapped, 6,385-9,608
at 16; 8 and 32 did no better than 16."""


class _Pending:
    """One call waiting for the next round trip."""

    __slots__ = ("call", "cancelled", "sent", "waiter")

    def __init__(self, call: ScriptCall[Any]) -> None:
        self.call = call
        self.waiter: Waiter[Any] = Waiter()
        self.cancelled = False
        self.sent = False


class _Lane:
    """The calls queued for one server (a primary, on a cluster), the connection pool they
    go out from, and how many senders work them."""

    __slots__ = ("node", "pool", "queue", "senders")

    def __init__(self, pool: Any, node: Any = None) -> None:
        self.pool = pool
        self.node = node  # a cluster's node (ClusterNode); None on a single server
        self.queue: deque[_Pending] = deque()
        self.senders = 0


class _Batching:
    """Queued script calls sent in batches, at most ``connections`` batches in flight per
    lane (each on its own connection from the lane's pool); where a call goes
    (:meth:`_lane_of`) and how a round trip is made (:meth:`_round_trip`) are the
    subclasses'.

    A caller stopped while waiting (Locust stopping its user) before its call went out drops
    the call: it never runs. One stopped after its call went out (Locust's graceful stop can
    land there: it kills a user it saw pausing between tasks, whose pause may already be over)
    still gets its answer, so the caller reports it, and is stopped again at its next pause.
    Only a caller stopped twice while its call is out (a forced kill) leaves the call
    unreported; those are counted in ``unanswered``: they may or may not have run.
    """

    def __init__(self, client: Any, connections: int) -> None:
        self._client = client
        self.sender = ScriptSender(client)
        self._connections = connections
        self._senders = 0  # in every lane
        self._idle = Event()
        self._idle.set()
        self._loop = get_hub().loop
        self.unanswered = 0
        self.batches = 0
        """Batches sent (one round trip each, unless some of its calls were redirected)."""
        self.batched = 0
        """Calls sent in them: ``batched / batches`` is the mean batch."""

    def _lane_of(self, call: ScriptCall[Any]) -> _Lane:
        raise NotImplementedError

    def _round_trip(self, lane: _Lane, dispatch: Dispatch) -> list[Any]:
        raise NotImplementedError

    def send(self, call: ScriptCall[T]) -> T:
        """The result of one script call, sent in the next batch (or raise its error)."""
        pending = _Pending(call)
        lane = self._lane_of(call)
        lane.queue.append(pending)
        if lane.senders < self._connections:
            lane.senders += 1
            self._senders += 1
            self._idle.clear()
            gevent.spawn(self._send, lane)
        try:
            outcome = pending.waiter.get()
        except BaseException as stop:
            if not pending.sent:
                pending.cancelled = True  # it will not go out: nothing happened
                raise
            outcome = self._answer_despite(pending, stop)
        if isinstance(outcome, Exception):  # its typed error, or the round trip failed
            raise outcome
        result: T = outcome
        return result

    def _answer_despite(self, pending: _Pending, stop: BaseException) -> Any:
        """The reply of a call that went out before its caller was stopped; the stop is
        thrown again at the caller's next pause (after it has reported the call)."""
        try:
            reply = (
                pending.waiter.get()
            )  # a Waiter may be waited on again; the round trip has a timeout
        except BaseException:
            self.unanswered += 1  # stopped again: the call may have run, nobody reports it
            raise
        caller = getcurrent()
        if isinstance(caller, Greenlet):
            caller.kill(stop, block=False)  # queued: it lands at the caller's next pause
        return reply

    def drain(self, timeout: float = DRAIN_SECONDS) -> bool:
        """Wait until no batch is queued or in flight; False if ``timeout`` ran out first."""
        return bool(self._idle.wait(timeout))

    def _send(self, lane: _Lane) -> None:
        try:
            queue = lane.queue
            while queue:
                batch = [queue.popleft() for _ in range(min(len(queue), MAX_BATCH))]
                live = [p for p in batch if not p.cancelled]
                if not live:
                    continue
                for pending in live:
                    pending.sent = True
                self.batches += 1
                self.batched += len(live)
                dispatch = self.sender.dispatch([p.call for p in live])
                try:
                    while dispatch.commands:
                        dispatch.receive(self._round_trip(lane, dispatch))
                except Exception as exc:  # the round trip failed: the unanswered callers hear it
                    dispatch.fail(exc)
                # Wake the callers from the hub (a Waiter is switched to from there only).
                self._loop.run_callback(_deliver, live, dispatch.outcomes)
        finally:
            lane.senders -= 1
            self._senders -= 1
            if not self._senders:
                self._idle.set()


class GeventAutoPipeline(_Batching):
    """A lobbycore transport (``LobbyStore(client, transport=...)``) that sends queued
    script calls in batches, one batch per connection at a time, to one server.

    ``connections``: how many batches may be in flight at once (each on its own connection
    from the client's pool). Stopped callers: see :class:`_Batching`.
    """

    def __init__(self, client: redis.Redis, connections: int) -> None:
        super().__init__(client, connections)
        self._lane = _Lane(client.connection_pool)

    def _lane_of(self, call: ScriptCall[Any]) -> _Lane:
        return self._lane

    def _round_trip(self, lane: _Lane, dispatch: Dispatch) -> list[Any]:
        return _exchange(lane.pool, dispatch.commands)


class ClusterAutoPipeline(_Batching):
    """:class:`GeventAutoPipeline` for a Redis Cluster client: one lane per primary,
    ``connections`` batches in flight on each (see the module's docstring)."""

    def __init__(self, client: RedisCluster, connections: int) -> None:
        super().__init__(client, connections)
        self._lanes: dict[str, _Lane] = {}  # by node name
        self._slots: dict[str, int] = {}  # by a call's first key: a (sub-)pool's stats key

    def _lane_of(self, call: ScriptCall[Any]) -> _Lane:
        client = self._client
        key = call.keys[0]
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = client.keyslot(key)
        owners = client.nodes_manager.slots_cache.get(slot)
        if not owners:
            raise SlotNotCoveredError(f"slot {slot} of {key!r} is not covered by the cluster")
        node = owners[0]  # the primary, in the slot map as last refreshed
        lane = self._lanes.get(node.name)
        if lane is None:
            lane = self._lanes[node.name] = _Lane(None)
        if lane.node is not node:  # new, or the node was made again by a refresh
            lane.node, lane.pool = node, client.get_redis_connection(node).connection_pool
        return lane

    def _round_trip(self, lane: _Lane, dispatch: Dispatch) -> list[Any]:
        commands = dispatch.commands
        sent: list[Any] | BaseException
        try:
            sent = _exchange(lane.pool, commands)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            sent = exc  # cut off, after the connection's retries: every call again
        redirected = Redirected.of(commands, dispatch.waits, sent)
        if redirected is None:
            assert not isinstance(sent, BaseException)
            return sent
        for route in redirected.routes:
            try:
                redirected.answer(route, send_routed(self._client, route))
            except Exception as exc:  # ClusterError, a connection error: these calls' answer
                redirected.answer(route, exc)
        return redirected.replies()


def _exchange(pool: Any, commands: list[Command]) -> list[Any]:
    """One write, then every reply, on a connection of ``pool``; retried whole on a
    connection error, like redis-py's own pipelines (every lobbycore script is safe to
    replay)."""
    connection = pool.get_connection()
    try:
        replies: list[Any] = connection.retry.call_with_retry(
            lambda: _write_and_read(connection, commands),
            lambda _error: connection.disconnect(),
        )
        return replies
    finally:
        pool.release(connection)


def _write_and_read(connection: Any, commands: list[Command]) -> list[Any]:
    # hiredis packs each command in one C call: the same bytes as redis-py's pack_commands
    # (our arguments are str and int only), a third of its cost.
    packed = b"".join([hiredis.pack_command(command) for command in commands])
    connection.send_packed_command([packed], check_health=False)
    replies: list[Any] = []
    for _ in commands:
        try:
            replies.append(connection.read_response())
        except ResponseError as exc:  # an error reply: that call's answer, the stream goes on
            replies.append(exc)
    return replies


def _deliver(batch: list[_Pending], outcomes: list[Any]) -> None:
    for pending, outcome in zip(batch, outcomes, strict=True):
        pending.waiter.switch(outcome)  # a caller killed meanwhile just leaves it unread


class PipelinedLobbyStore(LobbyStore):
    """The sync LobbyStore with an auto-pipeline as its transport (``pipeline``): a
    ClusterAutoPipeline on a cluster client, else a GeventAutoPipeline."""

    transport: GeventAutoPipeline | ClusterAutoPipeline

    def __init__(
        self,
        client: redis.Redis | RedisCluster,
        *,
        pool: str,
        lobby_ttl: float | None,
        shards: int,
        connections: int,
        wait_replicas: int = DEFAULT_WAIT_REPLICAS,
        wait_timeout: float = DEFAULT_WAIT_TIMEOUT,
    ) -> None:
        super().__init__(
            client,
            pool=pool,
            lobby_ttl=lobby_ttl,
            shards=shards,
            wait_replicas=wait_replicas,
            wait_timeout=wait_timeout,
            transport=(
                ClusterAutoPipeline(client, connections)
                if isinstance(client, RedisCluster)
                else GeventAutoPipeline(client, connections)
            ),
        )

    @property
    def pipeline(self) -> GeventAutoPipeline | ClusterAutoPipeline:
        return self.transport
