"""The run's pool: which one a run uses (claim), reading it, and deleting it (release).

- A pool named with ``--pool`` is used as it is, and never deleted.
- Otherwise the run gets a fresh one, ``locust-<random>``, which must hold no lobbies yet;
  its name reaches the workers with the master's other options, and it is deleted after
  the audit unless ``--keep``.
- A worker always uses the pool its master names.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from locust.env import Environment
from locust.runners import WorkerRunner

from lobbycore.admin import delete_pool
from lobbycore.audit import PoolSnapshot, read_lobbies, snapshot

from .options import LobbySettings, fresh_pool_name
from .state import RunState, set_state
from .store import SetupError, open_store, setup_errors

log = logging.getLogger("lobbysim")


def is_naive(settings: LobbySettings) -> bool:
    """The naive strategy keeps its pool in a layout of its own (and has no shards)."""
    return settings.strategy == "naive"


def claim(
    environment: Environment, settings: LobbySettings, previous: RunState | None = None
) -> RunState:
    """Open the run's store on the pool it uses, and make it this environment's run.

    ``previous``: the state of the web UI's last run, whose fresh pool is not reused (it
    was deleted at that run's stop) even when the form still shows its name.
    """
    reused_fresh = (
        previous is not None
        and not previous.named_pool
        and settings.pool in ("", previous.settings.pool)
    )
    named = isinstance(environment.runner, WorkerRunner) or (
        bool(settings.pool) and not reused_fresh
    )
    if not named:
        settings = replace(settings, pool=fresh_pool_name())
        assert environment.parsed_options is not None
        environment.parsed_options.pool = settings.pool  # sent to the workers
    state = open_pool(settings, named_pool=named)
    set_state(environment, state)
    return state


def open_pool(settings: LobbySettings, named_pool: bool) -> RunState:
    """The run's state on its pool; SetupError with a one-line reason.

    A fresh pool must be empty: a pool that already holds lobbies is used only when the
    user named it with ``--pool``.
    """
    client, store = open_store(settings)
    with setup_errors(settings.redis_url):
        if not named_pool and read_lobbies(
            client, settings.pool, naive=is_naive(settings), shards=settings.shards
        ):
            raise SetupError(
                f"the fresh pool name {settings.pool!r} already holds lobbies on this server;"
                " run again, or name it with --pool to use it"
            )
    return RunState(settings, client, store, named_pool)


def pool_snapshot(state: RunState) -> PoolSnapshot:
    settings = state.settings
    return snapshot(state.client, settings.pool, naive=is_naive(settings), shards=settings.shards)


def release(state: RunState) -> None:
    """Delete the run's fresh pool (after the audit) unless --keep; never a named pool."""
    settings = state.settings
    if state.named_pool or settings.keep:
        log.info("lobbysim: kept pool %r", settings.pool)
        return
    state.released = True
    deleted = delete_pool(
        state.client, settings.pool, naive=is_naive(settings), shards=settings.shards
    )
    log.info(
        "lobbysim: deleted the run's pool %r (%d keys; --keep keeps it)", settings.pool, deleted
    )
