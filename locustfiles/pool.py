"""The run's pool: which one a run uses (claim), reading it, and deleting it (release).

- A pool named with ``--pool`` is used as it is, and never deleted.
- Otherwise the run gets a fresh one, ``locust-<random>``, which must hold no key yet;
  its name reaches the workers with the master's other options, and it is deleted after
  the audit unless ``--keep``.
- A worker always uses the pool its master names.

Fresh, reuse, delete-if-fresh: the run layer's rule (:mod:`lobbysim.run.pools`), a named
pool being one the run was told to reuse.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from locust.env import Environment
from locust.runners import WorkerRunner

from lobbycore import PoolLayout
from lobbycore.audit import PoolSnapshot, snapshot
from lobbysim.run import pools

from .options import LobbySettings, fresh_pool_name
from .state import RunState, set_state
from .store import SetupError, open_store, setup_errors

log = logging.getLogger("lobbysim")


def is_naive(settings: LobbySettings) -> bool:
    """The naive strategy keeps its pool in a layout of its own (and has no shards)."""
    return layout_of(settings).naive


def layout_of(settings: LobbySettings) -> PoolLayout:
    return PoolLayout.of(settings.strategy, settings.shards)


def take_pool(
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

    A fresh pool must hold no key: a pool that already holds keys is used only when the
    user named it with ``--pool`` (and is then never deleted).
    """
    client, store = open_store(settings)
    with setup_errors(settings.redis_url):
        try:
            claimed = pools.claim(client, settings.pool, layout_of(settings), reuse=named_pool)
        except pools.PoolTaken as exc:
            raise SetupError(
                f"the fresh pool name {settings.pool!r} already holds {exc.held} keys on this "
                "server; run again, or name it with --pool to use it"
            ) from None
    return RunState(settings, client, store, named_pool, claimed)


def pool_snapshot(state: RunState) -> PoolSnapshot:
    layout = state.claimed.layout
    return snapshot(state.client, state.claimed.pool, naive=layout.naive, shards=layout.shards)


def release(state: RunState) -> None:
    """Delete the run's fresh pool (after the audit) unless --keep; never a named pool."""
    settings = state.settings
    # A pool named with --pool is the user's: kept, as with --keep, even if it was empty.
    deleted = pools.release(state.client, state.claimed, keep=settings.keep or state.named_pool)
    if deleted is None:
        log.info("lobbysim: kept pool %r", settings.pool)
        return
    state.released = True
    log.info(
        "lobbysim: deleted the run's pool %r (%d keys; --keep keeps it)", settings.pool, deleted
    )
