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

What to send and what each reply means (FCALL or EVALSHA, the flushed-script fallback, typed
errors) is :mod:`lobbycore.transport`'s; this module only does the I/O.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ._protocol import ScriptCall
from .transport import AsyncClientTransport, Command, ScriptSender

T = TypeVar("T")
Pending = tuple[ScriptCall[Any], "asyncio.Future[Any]"]

SENDERS = 2
MAX_BATCH = 16


class AutoPipeline:
    """An :class:`~lobbycore.typing.AsyncTransport` that sends concurrent calls in shared
    round trips (see the module's docstring)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.sender = ScriptSender(client)
        # A round trip cut off by a connection error: its calls again, each on its own.
        self._alone = AsyncClientTransport(client, self.sender)
        self._queue: deque[Pending] = deque()
        # Senders started and not yet past their last look at the queue (counted by the
        # senders themselves: a done-callback would run too late, after callers woken by
        # the last batch had queued calls and seen no free sender); and their tasks, kept
        # referenced until they end.
        self._active = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def send(self, call: ScriptCall[T]) -> T:
        """The result of one script call, sent in the next pipeline."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append((call, future))
        if self._active < SENDERS:
            self._active += 1
            sender = asyncio.create_task(self._send())
            self._tasks.add(sender)
            sender.add_done_callback(self._tasks.discard)
        return await future

    async def _send(self) -> None:
        try:
            await self._send_queued()
        finally:
            self._active -= 1

    async def _send_queued(self) -> None:
        queue = self._queue
        while queue:
            batch = [queue.popleft() for _ in range(min(len(queue), MAX_BATCH))]
            dispatch = self.sender.dispatch([call for call, _ in batch])
            try:
                while dispatch.commands:
                    dispatch.receive(await self._round_trip(dispatch.commands))
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
