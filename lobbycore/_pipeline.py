"""Auto-pipelining for the asyncio store.

Calls made while a round trip is in flight wait for the next one, and go out together as
one pipeline (no MULTI: each script is still its own atomic step). With many concurrent
callers, one round trip carries many operations instead of one.

Up to SENDERS round trips are in flight at once (each on its own connection from the
client's pool), each of at most MAX_BATCH calls, so that Redis runs one batch while Python
handles the replies of another and queues the next: with a single sender they took turns.
So calls made concurrently (not each awaited before the next is made) may run in another
order than they were made, as they would on separate connections; the calls of a caller
that awaits each one run in order.

A round trip cut off by a connection error (after the client's own retries) is not
reported to all its callers at once: each call not yet answered is sent again on its own,
as a call made without pipelining would have been retried (every script is safe to
replay), so callers see the error rate of single calls.

On a Redis Cluster client, calls are queued per primary (the slot of a call's first key,
its (sub-)pool's stats key, in the client's slot map; every key of a (sub-)pool shares one
hash tag), with SENDERS round trips in flight on each: one pipelined write per primary per
round. A call redirected (``MOVED``, ``ASK``) or cut off is sent again alone, as
:class:`~lobbycore.transport.Redirected` says (the slot map refreshed, or ``ASKING`` first;
a bounded number of attempts), the other calls of its round keeping their replies.

What to send and what each reply means (FCALL or EVALSHA, the flushed-script fallback, typed
errors) is :mod:`lobbycore.transport`'s; this module only does the I/O.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, TypeVar

from redis.asyncio.cluster import PipelineCommand
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import SlotNotCoveredError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ._protocol import ScriptCall
from .transport import (
    AsyncClientTransport,
    Command,
    Dispatch,
    Redirected,
    ScriptSender,
    send_routed_async,
)

T = TypeVar("T")
Pending = tuple[ScriptCall[Any], "asyncio.Future[Any]"]

SENDERS = 2
MAX_BATCH = 16


class _Lane:
    """The calls queued for one server (a primary, on a cluster client) and its senders."""

    __slots__ = ("active", "node", "queue")

    def __init__(self) -> None:
        self.queue: deque[Pending] = deque()
        # Senders started and not yet past their last look at the queue (counted by the
        # senders themselves: a done-callback would run too late, after callers woken by
        # the last batch had queued calls and seen no free sender).
        self.active = 0
        self.node: Any = None  # a cluster client's node (ClusterNode) of the lane


class AutoPipeline:
    """An :class:`~lobbycore.typing.AsyncTransport` that sends concurrent calls in shared
    round trips (see the module's docstring)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.sender = ScriptSender(client)
        # A round trip cut off by a connection error: its calls again, each on its own.
        self._alone = AsyncClientTransport(client, self.sender)
        self._lane = _Lane()  # the one lane of a single server
        self._lanes: dict[str, _Lane] = {}  # a cluster's, by node name
        self._slots: dict[str, int] = {}  # a cluster's slot of each (sub-)pool's stats key
        # The senders' tasks, kept referenced until they end.
        self._tasks: set[asyncio.Task[None]] = set()

    async def send(self, call: ScriptCall[T]) -> T:
        """The result of one script call, sent in the next pipeline."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        lane = await self._lane_of(call) if self.sender.scripts.cluster else self._lane
        lane.queue.append((call, future))
        if lane.active < SENDERS:
            lane.active += 1
            sender = asyncio.create_task(self._send(lane))
            self._tasks.add(sender)
            sender.add_done_callback(self._tasks.discard)
        return await future

    async def _lane_of(self, call: ScriptCall[Any]) -> _Lane:
        """The lane of the primary that owns ``call``'s slot in the client's slot map."""
        client = self._client
        key = call.keys[0]
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = client.keyslot(key)
        owners = client.nodes_manager.slots_cache.get(slot)
        if not owners:
            await client.initialize()  # at once unless the client has no slot map yet
            owners = client.nodes_manager.slots_cache.get(slot)
            if not owners:
                raise SlotNotCoveredError(f"slot {slot} of {key!r} is not covered by the cluster")
        node = owners[0]  # the primary
        lane = self._lanes.get(node.name)
        if lane is None:
            lane = self._lanes[node.name] = _Lane()
        lane.node = node  # a refresh of the map may have made the node again
        return lane

    async def _send(self, lane: _Lane) -> None:
        try:
            await self._send_queued(lane)
        finally:
            lane.active -= 1

    async def _send_queued(self, lane: _Lane) -> None:
        queue = lane.queue
        while queue:
            batch = [queue.popleft() for _ in range(min(len(queue), MAX_BATCH))]
            dispatch = self.sender.dispatch([call for call, _ in batch])
            try:
                while dispatch.commands:
                    if lane.node is None:
                        dispatch.receive(await self._round_trip(dispatch.commands))
                    else:
                        dispatch.receive(await self._on_node(lane.node, dispatch))
            except (RedisConnectionError, RedisTimeoutError):
                # Cut off: each call not yet answered again on its own, with the client's
                # retries (the others have their outcome).
                unsettled = dispatch.unsettled()
                answered = [i for i in range(len(batch)) if i not in unsettled]
                _deliver([batch[i] for i in answered], [dispatch.outcomes[i] for i in answered])
                await asyncio.gather(*(self._send_alone(*batch[i]) for i in unsettled))
                continue
            except BaseException as exc:  # the round trip failed: the unanswered callers hear it
                dispatch.fail(exc)
                _deliver(batch, dispatch.outcomes)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            _deliver(batch, dispatch.outcomes)

    async def _send_alone(self, call: ScriptCall[Any], future: asyncio.Future[Any]) -> None:
        try:
            result = await self._alone.send(call)
        except BaseException as exc:
            if not future.done():
                future.set_exception(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        if not future.done():
            future.set_result(result)

    async def _on_node(self, node: Any, dispatch: Dispatch) -> list[Any]:
        """The replies of ``dispatch``'s round, pipelined to a cluster's ``node``; the calls
        redirected or cut off sent again, alone (see :class:`Redirected`)."""
        commands = dispatch.commands
        stack = [PipelineCommand(i, *command) for i, command in enumerate(commands)]
        sent: list[Any] | BaseException
        try:
            # Error replies and a failed read come back as the commands' results.
            await node.execute_pipeline(stack)
            sent = [command.result for command in stack]
        except (RedisConnectionError, RedisTimeoutError) as exc:
            sent = exc
        redirected = Redirected.of(commands, dispatch.waits, sent)
        if redirected is None:
            assert not isinstance(sent, BaseException)
            return sent
        for route in redirected.routes:
            try:
                redirected.answer(route, await send_routed_async(self._client, route))
            except Exception as exc:  # ClusterError, a connection error: these calls' answer
                redirected.answer(route, exc)
        return redirected.replies()

    async def _round_trip(self, commands: list[Command]) -> list[Any]:
        pipe = self._client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        replies: list[Any] = await pipe.execute(raise_on_error=False)
        return replies


def _deliver(batch: list[Pending], outcomes: list[Any]) -> None:
    for (_, future), outcome in zip(batch, outcomes, strict=True):
        if future.done():
            continue  # the caller gave up (cancelled); the call still ran
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
