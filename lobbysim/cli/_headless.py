"""A headless run of ``demo`` or ``watch``: one summary line in every ending.

The run ends when its duration is up, on SIGINT (ctrl-c) or SIGTERM (a second one stops it
at once, skipping the last look at the pool), or on an error; each ending prints the
summary, with ``ended=`` saying which it was. The summary states the run's verdict (``ok=``,
before ``violations=``) and what it covered (``answered=`` calls for demo, ``events=`` for
watch, then ``checked=nothing`` when that is nothing: a run that had nothing to check is
never ok). The exit status: see ``status``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from typing import TYPE_CHECKING

from ._common import EXIT_VIOLATIONS, headless_status, summary_line

if TYPE_CHECKING:
    from simulator.source import LiveSource

SIGNALS = {int(signal.SIGINT): "sigint", int(signal.SIGTERM): "sigterm"}
"""The signals a headless run ends on, as ``ended=`` names them."""
EXIT_SIGNALLED = 128
"""Plus the signal's number (130 for SIGINT, 143 for SIGTERM), as a shell reports them."""


async def _follow(source: LiveSource, duration: float) -> int | None:
    """Run ``source``; the signal that ended it, or None."""
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    received: list[int] = []

    def on_signal(signum: int) -> None:
        received.append(signum)
        if len(received) == 1:
            source.stop()  # the run ends as if its duration were up
        elif main is not None:
            main.cancel()

    installed = []
    for signum in SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError):  # no signals here
            loop.add_signal_handler(signum, on_signal, signum)
            installed.append(signum)
    try:
        await source.run(duration)
    except asyncio.CancelledError:
        if not received:
            raise
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
    return received[0] if received else None


def status(source: LiveSource, signalled: int | None) -> int:
    """1 if a guarantee broke (even in a run cut short), else 128 + the signal that ended
    it, else 4 if the pool never held a key, 3 if Redis failed or lost the pool, 1 if the
    run checked nothing all the same (no call answered, no event), else 0."""
    found = headless_status(
        violations=source.violations,
        incomplete=source.incomplete,
        pool_missing=source.pool_never_seen,
    )
    if found == EXIT_VIOLATIONS:
        return found
    if signalled is not None:
        return EXIT_SIGNALLED + signalled
    if found == 0 and source.verdict().checked_nothing:
        return EXIT_VIOLATIONS  # not ok, as a load run that checked nothing exits 1
    return found


def run_headless(source: LiveSource, duration: float) -> int:
    """Run ``source`` for ``duration`` seconds, print its summary line, return the exit
    status. An error is raised after the summary is printed (the caller reports it)."""
    signalled: int | None = None
    failure: Exception | None = None
    try:
        signalled = asyncio.run(_follow(source, duration))
    except KeyboardInterrupt:  # a ctrl-c before the handlers were in place
        signalled = int(signal.SIGINT)
    except Exception as exc:
        failure = exc
    ended = "error" if failure else "duration" if signalled is None else SIGNALS[signalled]
    print(summary_line({**source.summary(), "ended": ended}), flush=True)
    verdict = source.verdict()
    if verdict.checked_nothing and source.last_failure is not None:
        # Why nothing could be checked, in words (the summary's values hold no space).
        print(
            f"lobbysim: warning: checked nothing (no {verdict.checked.what}); "
            f"Redis failed: {source.last_failure}",
            file=sys.stderr,
            flush=True,
        )
    if failure is not None:
        raise failure
    return status(source, signalled)
