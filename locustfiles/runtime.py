"""Per-process state of a Locust run: settings, the Redis client and the store.

Also the run's lifecycle hooks: validate options at start-up (one-line error, exit 2),
set the seat inventory once, and audit the pool when Locust quits (on the master only in a
distributed run), setting the exit code to 1 if any guarantee was broken.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from typing import Any, NoReturn

import redis
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from lobbycore import InvalidInput, LobbyStore, NaiveLobbyStore, connect, redact_url
from lobbycore.audit import VIOLATION_KINDS, PoolSnapshot, check, snapshot

from .options import LobbySettings, fresh_pool_name

log = logging.getLogger("lobbysim")


@dataclass
class _ProcessState:
    settings: LobbySettings
    client: redis.Redis
    store: Any
    baseline_bookings: int = 0
    baseline_joins: int = 0


_state: dict[int, _ProcessState] = {}


def _fail(message: str) -> NoReturn:
    sys.stderr.write(f"lobbysim: error: {message}\n")
    raise SystemExit(2)


def _state_of(environment: Environment) -> _ProcessState:
    return _state[id(environment)]


def settings_of(environment: Environment) -> LobbySettings:
    return _state_of(environment).settings


def process_store(environment: Environment) -> Any:
    return _state_of(environment).store


def _build_state(environment: Environment, settings: LobbySettings) -> _ProcessState:
    try:
        client = connect(settings.redis_url)
        client.ping()
        store: Any
        if settings.strategy == "naive":
            store = NaiveLobbyStore(client, pool=settings.pool, lobby_ttl=settings.lobby_ttl)
        else:
            store = LobbyStore(
                client, pool=settings.pool, lobby_ttl=settings.lobby_ttl, shards=settings.shards
            )
    except (InvalidInput, redis.RedisError) as exc:
        _fail(f"cannot use Redis at {redact_url(settings.redis_url)}: {' '.join(str(exc).split())}")
    except Exception as exc:  # lobbycore's InvalidInput for a bad pool name, say
        _fail(" ".join(str(exc).split()))
    state = _ProcessState(settings, client, store)
    _state[id(environment)] = state
    return state


def _settings(environment: Environment) -> LobbySettings:
    options = environment.parsed_options
    assert options is not None  # the init hook returns early without options
    try:
        return LobbySettings.from_options(options)
    except ValueError as exc:
        _fail(str(exc))


@events.init.add_listener
def _on_init(environment: Environment, **_kwargs: Any) -> None:
    """Check the options and the Redis URL before any user starts (one line, exit 2).

    Workers only check: the master's lobby options (pool included) reach them with the
    first spawn message, and their store is built then, in test_start.
    """
    options = environment.parsed_options
    if options is None:  # Locust used as a library without our options
        return
    settings = _settings(environment)
    if isinstance(environment.runner, WorkerRunner):
        return
    if not settings.pool:
        options.pool = fresh_pool_name()  # sent to the workers with the other options
        settings = _settings(environment)
    _build_state(environment, settings)


def _runs_audit(environment: Environment) -> bool:
    return not isinstance(environment.runner, WorkerRunner)


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_kwargs: Any) -> None:
    if not _runs_audit(environment):
        _build_state(environment, _settings(environment))  # a worker, with the master's options
        return
    state = _state_of(environment)
    if state.settings.seats is not None:
        state.store.set_seats(state.settings.seats)
    if not _naive(state):
        state.baseline_joins = state.store.stats().joins
    state.baseline_bookings = len(_snapshot(state).bookings)
    where = "distributed" if isinstance(environment.runner, MasterRunner) else "local"
    log.info(
        "lobbysim: pool %r (%d shards) on %s, strategy %s, lobbies of %d (%s run)",
        state.settings.pool,
        state.settings.shards,
        redact_url(state.settings.redis_url),
        state.settings.strategy,
        state.settings.max_users,
        where,
    )


def _naive(state: _ProcessState) -> bool:
    return state.settings.strategy == "naive"


def _snapshot(state: _ProcessState) -> PoolSnapshot:
    settings = state.settings
    return snapshot(state.client, settings.pool, naive=_naive(state), shards=settings.shards)


JOIN_NAMES = ("join", "party_join", "join (open)")


def _placements(environment: Environment) -> int:
    """Buyers newly placed by the run's joins, as its clients counted them."""
    total = 0
    for name in JOIN_NAMES:
        entry = environment.stats.entries.get((name, "lobby"))
        total += 0 if entry is None else entry.total_content_length
    return total


def _successes(environment: Environment, name: str) -> int:
    entry = environment.stats.entries.get((name, "lobby"))
    return 0 if entry is None else entry.num_requests - entry.num_failures


QUIET_POLL_SECONDS = 0.2
QUIET_MAX_SECONDS = 15.0


def _wait_until_quiet(client: redis.Redis) -> None:
    """Wait for in-flight calls to finish before the audit reads the pool.

    On a master, workers are told to quit just before Locust quits, and their last calls
    may still be running; a snapshot taken then would mix before and after. Quiet means the
    server processed no other command between two polls (bounded, for shared servers).
    """
    deadline = time.monotonic() + QUIET_MAX_SECONDS
    last = int(client.info("stats")["total_commands_processed"])
    while time.monotonic() < deadline:
        time.sleep(QUIET_POLL_SECONDS)  # gevent-patched: other greenlets keep running
        now = int(client.info("stats")["total_commands_processed"])
        if now - last <= 1:  # only our own INFO
            return
        last = now


@events.quitting.add_listener
def _audit_before_exit(environment: Environment, **_kwargs: Any) -> None:
    """The audit. Locust fires ``quitting`` after the run (and, on a master, after telling the
    workers to quit) and before it picks the exit code, so this is where the verdict goes."""
    if not _runs_audit(environment) or id(environment) not in _state:
        return
    state = _state_of(environment)
    pool = state.settings.pool
    _wait_until_quiet(state.client)
    snap = _snapshot(state)
    report = check(snap, initial_seats=None)
    problems = [f"{v.kind}: {v.detail}" for v in report.violations]

    # What the run's own counts explain (the run may share the pool with earlier runs).
    booked = _successes(environment, "book")
    new_in_stream = len(snap.bookings) - state.baseline_bookings
    lost_bookings = max(0, booked - new_in_stream)
    # More stream entries than successful calls is fine: calls in flight when the run
    # stopped were done by Redis but never reported.
    if lost_bookings:
        problems.append(
            f"lost_booking: {booked} successful book calls, {new_in_stream} new bookings in the stream"
        )
    leaves = _successes(environment, "leave")
    parties = _successes(environment, "party_join")
    partial = sum(1 for lobby in snap.lobbies.values() if len(lobby.users) < lobby.max_users)
    # Joins alone leave at most one open lobby per capacity (per shard).
    capacities = len({lobby.max_users for lobby in snap.lobbies.values()})
    allowed = capacities * state.settings.shards + leaves + parties
    unexplained = max(0, partial - allowed)
    if unexplained:
        problems.append(
            f"unexplained_partial_lobbies: {partial} lobbies not full, the run's leaves and "
            f"party joins explain at most {allowed}"
        )
    reported = _placements(environment)
    server_count = None if _naive(state) else state.store.stats().joins - state.baseline_joins
    if server_count is not None and reported > server_count:
        problems.append(
            f"lost_join: the run's clients placed {reported} buyers, the server counted {server_count}"
        )
    for problem in problems[:20]:
        print(f"  {problem[:200]}")
    if len(problems) > 20:
        print(f"  ... and {len(problems) - 20} more")
    counts = report.counts()
    counts["lost_booking"] += 1 if lost_bookings else 0
    counts["unexplained_partial_lobbies"] = 1 if unexplained else 0
    ok = not problems
    kinds = (*VIOLATION_KINDS, "unexplained_partial_lobbies")
    print(
        f"lobbysim audit: pool={pool} strategy={state.settings.strategy} ok={str(ok).lower()} "
        f"violations={len(problems)} "
        + " ".join(f"{kind}={counts.get(kind, 0)}" for kind in kinds)
        + f" joins={sum(_successes(environment, name) for name in JOIN_NAMES)}"
        + f" placed_reported={reported} placed_server={'n/a' if server_count is None else server_count}"
        f" bookings={booked} lobbies={report.lobbies} waiting={report.users_waiting}"
    )
    sys.stdout.flush()
    if not ok:
        environment.process_exit_code = 1
