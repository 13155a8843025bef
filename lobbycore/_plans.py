"""Sans-IO reads and writes of whole pools, and the two drivers that run them.

A plan is a generator that yields a batch of requests and receives their replies, in
order; what it returns is the plan's result. Each request is a Redis command (a tuple) or
a :class:`Scan`. The audit's readers and the admin tools are written once as plans, and
:func:`run_sync` / :func:`run_async` run them on a sync or an asyncio client (plain,
Cluster or fakeredis). The commands of a batch go in one pipeline (no transaction): a
plan's reads are a sequence of reads, never one atomic step.
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, TypeVar

from ._keys import text
from .defaults import READ_REPLY_BYTES

__all__ = ["SCAN_COUNT", "Command", "Plan", "Scan", "run_async", "run_sync"]

T = TypeVar("T")
# A key name is at most about 200 bytes (a pool name of MAX_POOL_BYTES and lobbycore's
# longest suffix): a SCAN reply then stays within a bounded read's size.
SCAN_COUNT = READ_REPLY_BYTES // 256
"""The COUNT hint of each SCAN call."""


@dataclass(frozen=True, slots=True)
class Scan:
    """Every key matching ``match`` (a SCAN to the end; on a cluster, of every primary).
    Its reply is the sorted list of key names, as str. With a ``limit``, the SCAN stops
    once it has found that many keys (a probe: "is there any such key?")."""

    match: str
    limit: int | None = None


Command = tuple[Any, ...]
Request = Command | Scan
Plan = Generator[list[Request], list[Any], T]


def _split(batch: list[Request]) -> tuple[list[tuple[int, Command]], list[tuple[int, Scan]]]:
    commands = [(i, r) for i, r in enumerate(batch) if not isinstance(r, Scan)]
    scans = [(i, r) for i, r in enumerate(batch) if isinstance(r, Scan)]
    return commands, scans


def _run_batch_sync(client: Any, batch: list[Request]) -> list[Any]:
    replies: list[Any] = [None] * len(batch)
    commands, scans = _split(batch)
    for i, scan in scans:
        found: set[str] = set()
        for key in client.scan_iter(match=scan.match, count=SCAN_COUNT):
            found.add(text(key))
            if scan.limit is not None and len(found) >= scan.limit:
                break
        replies[i] = sorted(found)
    if commands:
        pipe = client.pipeline(transaction=False)
        for _, command in commands:
            pipe.execute_command(*command)
        for (i, _), reply in zip(commands, pipe.execute(), strict=True):
            replies[i] = reply
    return replies


async def _run_batch_async(client: Any, batch: list[Request]) -> list[Any]:
    replies: list[Any] = [None] * len(batch)
    commands, scans = _split(batch)
    for i, scan in scans:
        found: set[str] = set()
        async with aclosing(client.scan_iter(match=scan.match, count=SCAN_COUNT)) as keys:
            async for key in keys:
                found.add(text(key))
                if scan.limit is not None and len(found) >= scan.limit:
                    break
        replies[i] = sorted(found)
    if commands:
        pipe = client.pipeline(transaction=False)
        for _, command in commands:
            pipe.execute_command(*command)
        for (i, _), reply in zip(commands, await pipe.execute(), strict=True):
            replies[i] = reply
    return replies


def run_sync(client: Any, plan: Plan[T]) -> T:
    """Run a plan on a sync client."""
    try:
        batch = next(plan)
        while True:
            batch = plan.send(_run_batch_sync(client, batch))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def run_async(client: Any, plan: Plan[T]) -> T:
    """Run a plan on an asyncio client."""
    try:
        batch = next(plan)
        while True:
            batch = plan.send(await _run_batch_async(client, batch))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
