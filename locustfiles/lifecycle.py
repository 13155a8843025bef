"""A run's lifecycle, hooked into Locust's events when this module is first imported (the
locustfile imports it, so the hooks exist before Locust creates its runner, and before
``--processes`` forks).

- Start (``startup.py``): check the options, claim the pool (``pool.py``), set the seats.
- Stop (``stopping.py``): Ctrl-C, SIGTERM and ``-t`` all stop the users, and wait for the
  calls in flight, before anything reads the pool (on a master, until the workers have
  stopped too).
- End (``audit.py``): audit the pool (on the master only in a distributed run), exit 1 if
  any guarantee was broken, then delete the run's fresh pool unless ``--keep``.
- Latency (``latency.py``): every call's, in µs; a worker's go to its master with each of
  its reports; at the end, one line and (with ``--csv``) ``<prefix>_latency_us.csv``.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from locust import events
from locust.env import Environment

from . import audit, gc_tuning, latency, loop_clock, pool, startup, stopping
from .state import RunState, find_state, process_state

log = logging.getLogger("lobbysim")


def _on_init(environment: Environment, **_kwargs: Any) -> None:
    if environment.parsed_options is None:  # Locust used as a library without our options
        return
    # Registered here, after Locust's own quitting listeners: quitting runs its listeners in
    # reverse, so ours stops the users before a worker tells its master it has quit.
    environment.events.quitting.add_listener(stopping.on_quitting)
    stopping.install_sigint_handler()
    startup.check_at_init(environment)
    if environment.reset_stats:
        environment.events.spawning_complete.add_listener(_reset_latency)


def _on_test_start(environment: Environment, **_kwargs: Any) -> None:
    if environment.parsed_options is None:
        return
    state = startup.state_for_run(environment)
    state.latency.reset()
    gc_tuning.freeze_gc()
    stopping.begin(environment, state)
    if audit.runs_audit(environment):
        startup.prepare_pool(environment, state)


def _on_test_stop(environment: Environment, **_kwargs: Any) -> None:
    """The end of a run (``-t``, Ctrl-C, SIGTERM, the web UI's stop): once the users are
    stopped here and on every worker, and their calls in flight are done, the audit; then
    the pool's fate."""
    state = find_state(environment)
    if state is None or not state.running:
        return
    state.running = False
    try:
        _end_run(environment, state)
    finally:
        state.ended.set()


def _end_run(environment: Environment, state: RunState) -> None:
    stopped_at = time.monotonic()
    settled = stopping.settle(environment, state)
    if not audit.runs_audit(environment):
        return
    if not settled:
        stopping.wait_until_quiet(state.client)
    if not audit.audit(environment, state):
        environment.process_exit_code = 1
    _report_latency(environment, state)
    pool.release(state)
    stopping.let_the_csv_catch_up(environment, stopped_at)


def _report_latency(environment: Environment, state: RunState) -> None:
    """The run's latencies in µs: one line, and next to Locust's CSV files with ``--csv``
    (the result file has them too: the audit writes it)."""
    summary = state.latency.summary()
    line = latency.line(summary)
    print(line)
    sys.stdout.flush()
    log.info("%s", line)
    prefix = getattr(environment.parsed_options, "csv_prefix", None)
    if prefix:
        latency.write_csv(latency.csv_path(prefix), summary)


def _reset_latency(**_kwargs: Any) -> None:
    """``--reset-stats``: Locust resets its stats once every user is spawned; so do we."""
    state = process_state()
    if state is not None:
        state.latency.reset()


def _on_report_to_master(client_id: str, data: dict[str, Any], **_kwargs: Any) -> None:
    """A worker's report carries the latencies recorded since its last one (as Locust's own
    stats, sent in the same report, carry its calls since then)."""
    state = process_state()
    if state is not None:
        data[latency.REPORT_KEY] = state.latency.take_report()


def _on_worker_report(client_id: str, data: dict[str, Any], **_kwargs: Any) -> None:
    state = process_state()
    if state is not None and latency.REPORT_KEY in data:
        state.latency.add_report(data[latency.REPORT_KEY])


def _register() -> None:
    events.init.add_listener(_on_init)
    events.init.add_listener(loop_clock.catch_up)  # after the listeners that may block
    events.test_start.add_listener(_on_test_start)
    events.test_stop.add_listener(_on_test_stop)
    events.spawning_complete.add_listener(gc_tuning.on_spawning_complete)
    events.report_to_master.add_listener(stopping.on_report_to_master)
    events.worker_report.add_listener(stopping.on_worker_report)
    events.report_to_master.add_listener(_on_report_to_master)
    events.worker_report.add_listener(_on_worker_report)


_register()
