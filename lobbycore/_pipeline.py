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
reported to all its callers at once: each call is sent again on its own, as a call made
without pipelining would have been retried (every script is safe to replay), so callers
see the error rate of single calls.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ._protocol import ScriptCall
from ._scripts import ScriptSet, library

Pending = tuple[ScriptCall[Any], "asyncio.Future[Any]"]

SENDERS = 2
MAX_BATCH = 16


async def load_library(client: Any, *, replace: bool) -> ResponseError | None:
    """Load lobbycore's function library; the server's refusal, if any."""
    try:
        await client.function_load(library().source, replace=replace)
    except ResponseError as exc:
        return exc
    return None


async def run_script(client: Any, scripts: ScriptSet, call: ScriptCall[Any]) -> Any:
    """The raw reply of one call sent on its own (FCALL or EVALSHA; EVAL when the server
    lost the function or script)."""
    try:
        return await client.execute_command(*scripts.command(call))
    except ResponseError as exc:
        if not scripts.missing(exc):
            raise
        # The server lost it (restart, FLUSH). EVAL rather than load-then-call: another
        # flush in between could not make it fail again.
        if scripts.functions:
            await load_library(client, replace=True)
        return await client.execute_command(*scripts.fallback(call))


class AutoPipeline:
    def __init__(self, client: Any, scripts: ScriptSet) -> None:
        self._client = client
        self._scripts = scripts
        self._queue: deque[Pending] = deque()
        # Senders started and not yet past their last look at the queue (counted by the
        # senders themselves: a done-callback would run too late, after callers woken by
        # the last batch had queued calls and seen no free sender); and their tasks, kept
        # referenced until they end.
        self._active = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self, call: ScriptCall[Any]) -> Any:
        """The raw reply of one script call, sent in the next pipeline."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
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
            try:
                replies = await self._execute([call for call, _ in batch])
            except (RedisConnectionError, RedisTimeoutError):
                # Cut off: each call again on its own, with the client's retries.
                await asyncio.gather(*(self._alone(call, future) for call, future in batch))
                continue
            except BaseException as exc:  # the whole round trip failed: every caller hears it
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            for (_, future), reply in zip(batch, replies, strict=True):
                if future.done():
                    continue  # the caller gave up (cancelled); the call still ran
                if isinstance(reply, BaseException):
                    future.set_exception(reply)
                else:
                    future.set_result(reply)

    async def _alone(self, call: ScriptCall[Any], future: asyncio.Future[Any]) -> None:
        try:
            reply = await run_script(self._client, self._scripts, call)
        except BaseException as exc:
            if not future.done():
                future.set_exception(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        if not future.done():
            future.set_result(reply)

    async def _execute(self, calls: list[ScriptCall[Any]]) -> list[Any]:
        scripts = self._scripts
        pipe = self._client.pipeline(transaction=False)
        for call in calls:
            pipe.execute_command(*scripts.command(call))
        replies: list[Any] = await pipe.execute(raise_on_error=False)
        missing = [i for i, reply in enumerate(replies) if scripts.missing(reply)]
        if missing:
            # The server lost the function or script (restart, FLUSH). Such a call did not
            # run, so send those again as EVAL with the source: EVAL cannot fail that way
            # even if the server loses them again (and the library is loaded again).
            if scripts.functions:
                await load_library(self._client, replace=True)
            pipe = self._client.pipeline(transaction=False)
            for i in missing:
                pipe.execute_command(*scripts.fallback(calls[i]))
            again: list[Any] = await pipe.execute(raise_on_error=False)
            for i, reply in zip(missing, again, strict=True):
                replies[i] = reply
        return replies
