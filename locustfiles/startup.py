"""Starting a run: the lobby options checked before any user starts (a one-line error and
exit 2 on the command line; the form's error in the web UI), the pool claimed, and the
seat inventory set once.

Workers only check their options at init: the master's lobby options (pool included) reach
them with the first spawn message, and their store is opened then, at the run's start.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from typing import Any, NoReturn

from flask import jsonify, request
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from lobbycore import redact_url

from .audit import record_baseline
from .options import LobbySettings, fresh_pool_name
from .pool import take_pool
from .state import RunState, find_state
from .store import SetupError, open_store

log = logging.getLogger("lobbysim")


def _fail(message: str) -> NoReturn:
    sys.stderr.write(f"lobbysim: error: {message}\n")
    raise SystemExit(2)


def settings_from(options: argparse.Namespace) -> LobbySettings:
    """Validated settings; SetupError with a one-line reason."""
    try:
        settings = LobbySettings.from_options(options)
    except ValueError as exc:
        raise SetupError(str(exc)) from None
    if settings.result_file is not None and not settings.result_file.parent.is_dir():
        raise SetupError(f"--result-file: no folder {str(settings.result_file.parent)!r}")
    return settings


def check_at_init(environment: Environment) -> None:
    """Check the options and the Redis URL before any user starts (one line, exit 2), and
    claim the pool (not on a worker); in the web UI, check the form's options too."""
    assert environment.parsed_options is not None
    try:
        settings = settings_from(environment.parsed_options)
        if isinstance(environment.runner, WorkerRunner):
            return
        take_pool(environment, settings)
    except SetupError as exc:
        _fail(str(exc))
    if environment.web_ui is not None and environment.web_ui.app is not None:
        environment.web_ui.app.before_request(_web_form_check(environment))


def state_for_run(environment: Environment) -> RunState:
    """The state the starting run uses: the one claimed at init, unless this is a worker's
    first run (it uses its master's pool) or the web form changed the options, or the last
    run's fresh pool was released (then a new claim)."""
    assert environment.parsed_options is not None
    state = find_state(environment)
    settings = settings_from(environment.parsed_options)  # checked at init, or by the form
    if (
        state is not None
        and not state.released
        and replace(settings, pool=settings.pool or state.settings.pool) == state.settings
    ):
        return state
    try:
        return take_pool(environment, settings, previous=state)
    except SetupError as exc:  # the web form checked the options; the server may have gone
        log.error("lobbysim: %s", exc)
        raise


def prepare_pool(environment: Environment, state: RunState) -> None:
    """Where the audit runs: set the seat inventory, note what a named pool already holds,
    and say which pool the run uses."""
    settings = state.settings
    if settings.seats is not None:
        state.store.set_seats(settings.seats)
    record_baseline(state)
    where = "distributed" if isinstance(environment.runner, MasterRunner) else "local"
    log.info(
        "lobbysim: pool %r (%s, %d shards) on %s, strategy %s, %s client, lobbies of %d (%s run)",
        settings.pool,
        "named" if state.named_pool else "fresh",
        settings.shards,
        redact_url(settings.redis_url),
        settings.strategy,
        settings.client,
        settings.max_users,
        where,
    )


def _web_form_check(environment: Environment) -> Any:
    """A Flask before-request hook: the web form's lobby options are checked as the command
    line's are, and a bad one is refused with its one-line reason (shown in the form)."""

    def check_swarm_form() -> Any:
        if request.path.rstrip("/").rsplit("/", 1)[-1] != "swarm" or request.method != "POST":
            return None
        options = argparse.Namespace(**vars(environment.parsed_options))
        try:
            for key, value in request.form.items():
                current = getattr(options, key, None)
                if key in LobbySettings.OPTION_NAMES and current is not None:
                    setattr(options, key, _form_value(current, value))
            settings = settings_from(options)
            state = find_state(environment)
            if state is None or settings.redis_url != state.settings.redis_url:
                open_store(replace(settings, pool=settings.pool or fresh_pool_name()))
        except (ValueError, SetupError) as exc:
            log.error("lobbysim: %s", exc)
            return jsonify({"success": False, "message": str(exc), "host": environment.host})
        return None

    return check_swarm_form


def _form_value(current: Any, value: str) -> Any:
    """A form field converted to its option's type, as Locust's web UI does."""
    if isinstance(current, bool):
        return value == "true"
    try:
        return type(current)(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a valid {type(current).__name__}") from None
