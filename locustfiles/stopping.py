"""Stopping a run so that nothing reads the pool while calls may still change it.

Ctrl-C, SIGTERM and ``-t`` all stop the users, then wait for the calls in flight (on a
master, until every worker has stopped its own); where those calls cannot be tracked, until
the server has gone quiet. The calls cut off by the stop are counted, per worker too.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from typing import Any

import gevent
import redis
from gevent.hub import get_hub
from locust.env import Environment
from locust.rpc import Message
from locust.runners import (
    STATE_CLEANUP,
    STATE_RUNNING,
    STATE_SPAWNING,
    STATE_STOPPING,
    MasterRunner,
)
from locust.stats import CSV_STATS_INTERVAL_SEC

from .gc_tuning import gc_watch
from .pipeline import PipelinedLobbyStore
from .state import RunState, find_state, process_state

log = logging.getLogger("lobbysim")

WORKER_STOP_GRACE_SECONDS = 10.0
BUSY_WORKER_STATES = (STATE_SPAWNING, STATE_RUNNING, STATE_STOPPING, STATE_CLEANUP)
QUIET_POLL_SECONDS = 0.2
QUIET_MAX_SECONDS = 15.0

_interrupted = False


def install_sigint_handler() -> None:
    """Ctrl-C raises KeyboardInterrupt in the main greenlet only, where Locust expects it.

    By default Python raises it in whichever greenlet is running: almost always a user in
    the middle of a call, which Locust then loses (the run goes on until ``-t``), or the
    client's sender. A second Ctrl-C exits at once, without the audit.
    """

    def on_sigint() -> None:
        global _interrupted
        if _interrupted:
            sys.stderr.write("lobbysim: second Ctrl-C: exiting now, without the audit\n")
            sys.stderr.flush()
            os._exit(1)
        _interrupted = True
        log.info("lobbysim: Ctrl-C: stopping the users, then the audit")
        hub = get_hub()
        hub.loop.run_callback(hub.parent.throw, KeyboardInterrupt)

    gevent.signal_handler(signal.SIGINT, on_sigint)


def begin(environment: Environment, state: RunState) -> None:
    """A run starts: what the stop and the generator's log line count from."""
    state.cpu_at_start = time.process_time()
    state.calls_reported = 0
    state.stats = environment.stats
    state.running = True
    state.ended.clear()


def on_quitting(environment: Environment, **_kwargs: Any) -> None:
    """Locust fires ``quitting`` on every stop path, but on Ctrl-C and SIGTERM while the
    users still run (it stops them afterwards). Stop them first, with Locust's own stop,
    whose ``test_stop`` does the rest (on a worker, before Locust's own listener tells the
    master this worker has quit)."""
    state = find_state(environment)
    runner = environment.runner
    if state is None or runner is None:
        return
    if state.running:
        if isinstance(runner, MasterRunner):
            runner.stop(send_stop_to_client=False)  # the workers are told to quit in test_stop
        else:
            runner.stop()  # honours --stop-timeout
    # test_stop may be running in another greenlet (a master's -t, whose last worker's quit
    # makes Locust shut down at once): the process must not exit before the audit is done.
    state.ended.wait()


def settle(environment: Environment, state: RunState) -> bool:
    """Once the users are stopped: wait for the calls in flight (here, or on every worker),
    and log the generator's cost. True if no call of the run can still be running at the
    server."""
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        return _stop_workers(environment, runner)
    settled = _drain(state)
    _log_generator_cost(environment, state)
    return settled


def _stop_workers(environment: Environment, runner: MasterRunner) -> bool:
    """Tell the workers still running users (headless: every worker) to quit and wait until
    each has: a worker quits after its users stopped and its calls in flight finished.
    (After the web UI's stop they are already stopped, and stay for the next run.) False if
    one did not."""
    # Headless, every worker quits: one that still looked idle or missing to the master (its
    # messages late on a loaded machine) may be about to spawn, or still running, users.
    headless = bool(getattr(environment.parsed_options, "headless", False))
    busy = [c.id for c in runner.clients.all if headless or c.state in BUSY_WORKER_STATES]
    for worker in busy:
        runner.server.send_to_client(Message("quit", None, worker))
    deadline = time.monotonic() + environment.stop_timeout + WORKER_STOP_GRACE_SECONDS
    while any(w in runner.clients for w in busy) and time.monotonic() < deadline:
        gevent.sleep(0.05)
    left = sum(1 for w in busy if w in runner.clients)
    if left:
        log.warning(
            "lobbysim: %d workers did not confirm their stop; waiting for a quiet server", left
        )
    return not left


def _drain(state: RunState) -> bool:
    """Wait for the calls in flight; True if none can still be running at the server."""
    store = state.store
    if isinstance(store, PipelinedLobbyStore):
        return store.pipeline.drain()
    return False  # per-call users were killed mid-call: their commands may still run


def unanswered(state: RunState) -> int:
    """This process's calls cut off by the stop (done or not by Redis, never reported)."""
    store = state.store
    return store.pipeline.unanswered if isinstance(store, PipelinedLobbyStore) else 0


def _log_generator_cost(environment: Environment, state: RunState) -> None:
    """The generator's own CPU per call: if it nears 1 s / (calls/s), Python is the limit."""
    calls = state.calls_reported + environment.stats.total.num_requests
    cpu = time.process_time() - state.cpu_at_start
    log.info(
        "lobbysim: generator: %d calls, %.0f us of CPU per call; %d full GC collections "
        "(longest %.1f ms); %d calls cut off by the stop",
        calls,
        cpu * 1e6 / max(1, calls),
        gc_watch.full,
        gc_watch.longest * 1000,
        unanswered(state),
    )


def on_report_to_master(client_id: str, data: dict[str, Any], **_kwargs: Any) -> None:
    """A worker's report: its calls cut off so far, for the master's audit line. (Runs before
    Locust's own listener, which resets the worker's stats once they are sent.)"""
    state = process_state()
    if state is None:
        return
    data["lobbysim_unanswered"] = unanswered(state)
    if state.stats is not None:
        state.calls_reported += state.stats.total.num_requests


def on_worker_report(client_id: str, data: dict[str, Any], **_kwargs: Any) -> None:
    state = process_state()
    if state is not None and "lobbysim_unanswered" in data:
        state.unanswered[client_id] = int(data["lobbysim_unanswered"])


def wait_until_quiet(client: redis.Redis) -> None:
    """Wait until the server processed no other command between two polls (bounded).

    The fallback when the calls in flight cannot be tracked: per-call users killed mid-call
    (their commands may still be queued at the server), or workers that did not confirm.
    """
    deadline = time.monotonic() + QUIET_MAX_SECONDS
    last = int(client.info("stats")["total_commands_processed"])
    while time.monotonic() < deadline:
        time.sleep(QUIET_POLL_SECONDS)  # gevent-patched: other greenlets keep running
        now = int(client.info("stats")["total_commands_processed"])
        if now - last <= 1:  # only our own INFO
            return
        last = now


def let_the_csv_catch_up(environment: Environment, stopped_at: float) -> None:
    """Locust rewrites its --csv files once a second and not at exit, so the last second's
    calls could be missing from them. Wait (if the audit did not take that long) for one
    more write after the users stopped: the files' totals then match the audit's."""
    if getattr(environment.parsed_options, "csv_prefix", None):
        gevent.sleep(max(0.0, stopped_at + CSV_STATS_INTERVAL_SEC + 0.2 - time.monotonic()))
