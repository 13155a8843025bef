"""Auto-pipelining for the asyncio store.

Calls made while a round trip is in flight wait for the next one, and go out together as
one pipeline (no MULTI: each script is still its own atomic step). With many concurrent
callers, one round trip carries many operations instead of one.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.exceptions import NoScriptError

from ._protocol import ScriptCall

Pending = tuple[ScriptCall[Any], "asyncio.Future[Any]"]


class AutoPipeline:
    def __init__(self, client: Any, scripts: dict[str, Any]) -> None:
        self._client = client
        self._scripts = scripts
        self._queue: list[Pending] = []
        self._sender: asyncio.Task[None] | None = None

    async def run(self, call: ScriptCall[Any]) -> Any:
        """The raw reply of one script call, sent in the next pipeline."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((call, future))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send())
        return await future

    async def _send(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                replies = await self._execute([call for call, _ in batch])
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

    async def _execute(self, calls: list[ScriptCall[Any]]) -> list[Any]:
        pipe = self._client.pipeline(transaction=False)
        for call in calls:
            pipe.evalsha(self._scripts[call.script].sha, len(call.keys), *call.keys, *call.args)
        replies: list[Any] = await pipe.execute(raise_on_error=False)
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:
            # The server lost its script cache (restart, SCRIPT FLUSH). A NOSCRIPT call did
            # not run, so send those again as EVAL with the source: EVAL cannot fail that
            # way even if the cache is flushed again, and it caches the script once more.
            pipe = self._client.pipeline(transaction=False)
            for i in missing:
                call = calls[i]
                pipe.eval(self._scripts[call.script].script, len(call.keys), *call.keys, *call.args)
            again: list[Any] = await pipe.execute(raise_on_error=False)
            for i, reply in zip(missing, again, strict=True):
                replies[i] = reply
        return replies
