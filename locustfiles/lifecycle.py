"""A run's lifecycle, hooked into Locust's events when this module is first imported (the
locustfile imports it, so the hooks exist before Locust creates its runner, and before
``--processes`` forks).

- Start (``startup.py``): check the options, claim the pool (``pool.py``), set the seats.
- Stop (``stopping.py``): Ctrl-C, SIGTERM and ``-t`` all stop the users, and wait for the
  calls in flight, before anything reads the pool (on a master, until the workers have
  stopped too).
- End (``audit.py``): audit the pool (on the master only in a distributed run), exit 1 if
  any guarantee was broken, then delete the run's fresh pool unless ``--keep``.
"""

from __future__ import annotations

import time
from typing import Any

from locust import events
from locust.env import Environment

from . import audit, gc_tuning, pool, startup, stopping
from .state import RunState, find_state


def _on_init(environment: Environment, **_kwargs: Any) -> None:
    if environment.parsed_options is None:  # Locust used as a library without our options
        return
    # Registered here, after Locust's own quitting listeners: quitting runs its listeners in
    # reverse, so ours stops the users before a worker tells its master it has quit.
    environment.events.quitting.add_listener(stopping.on_quitting)
    stopping.install_sigint_handler()
    startup.check_at_init(environment)


def _on_test_start(environment: Environment, **_kwargs: Any) -> None:
    if environment.parsed_options is None:
        return
    state = startup.state_for_run(environment)
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
    pool.release(state)
    stopping.let_the_csv_catch_up(environment, stopped_at)


def _register() -> None:
    events.init.add_listener(_on_init)
    events.test_start.add_listener(_on_test_start)
    events.test_stop.add_listener(_on_test_stop)
    events.spawning_complete.add_listener(gc_tuning.on_spawning_complete)
    events.report_to_master.add_listener(stopping.on_report_to_master)
    events.worker_report.add_listener(stopping.on_worker_report)


_register()
