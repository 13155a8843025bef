"""Per-process state of a Locust run, and the run's lifecycle hooks.

- Start: validate the options (one-line error, exit 2; in the web UI, the form's error),
  claim the pool (a fresh one unless ``--pool`` names one), set the seat inventory once.
- Stop: Ctrl-C, SIGTERM and ``-t`` all stop the users, and wait for the calls in flight,
  before anything reads the pool (on a master, until the workers have stopped too).
- End: audit the pool (on the master only in a distributed run), exit 1 if any guarantee
  was broken, then delete the run's fresh pool unless ``--keep``.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field, replace
from typing import Any, NoReturn

import gevent
import redis
import redis.cluster
from flask import jsonify, request
from gevent.event import Event
from gevent.hub import get_hub
from locust import events
from locust.env import Environment
from locust.rpc import Message
from locust.runners import (
    STATE_CLEANUP,
    STATE_RUNNING,
    STATE_SPAWNING,
    STATE_STOPPING,
    MasterRunner,
    WorkerRunner,
)
from locust.stats import CSV_STATS_INTERVAL_SEC

from lobbycore import (
    InvalidInput,
    LobbyError,
    check_naive_supported,
    connect,
    redact_text,
    redact_url,
    store_for,
)
from lobbycore.admin import delete_pool
from lobbycore.audit import PoolSnapshot, Violation, check, read_lobbies, snapshot
from lobbycore.typing import SyncStore

from .options import LobbySettings, fresh_pool_name
from .pipeline import PipelinedLobbyStore

log = logging.getLogger("lobbysim")

# Users of the per-call client (and of the naive store) wait for a free connection, up to
# redis-py's 20 s, instead of failing as redis-py's default pool does once it holds 100.
# The cap keeps a process from opening one connection per user.
PER_CALL_CONNECTIONS = 256


@dataclass
class _ProcessState:
    settings: LobbySettings
    client: redis.Redis
    store: SyncStore
    named_pool: bool
    baseline_bookings: int = 0
    baseline_joins: int = 0
    cpu_at_start: float = 0.0
    calls_reported: int = 0  # a worker's calls already sent to the master (its stats reset)
    stats: Any = None  # the environment's RequestStats, for listeners that get no environment
    running: bool = False  # between test_start and the end of that run's test_stop
    ended: Event = field(default_factory=lambda: _set(Event()))  # that run's test_stop is done
    released: bool = False  # the fresh pool was deleted: a new run needs a new one
    unanswered: dict[str, int] = field(default_factory=dict)  # per worker, on a master


_state: dict[int, _ProcessState] = {}


def _set(event: Event) -> Event:
    event.set()
    return event


def _fail(message: str) -> NoReturn:
    sys.stderr.write(f"lobbysim: error: {message}\n")
    raise SystemExit(2)


def _state_of(environment: Environment) -> _ProcessState:
    return _state[id(environment)]


def settings_of(environment: Environment) -> LobbySettings:
    return _state_of(environment).settings


def process_store(environment: Environment) -> SyncStore:
    return _state_of(environment).store


# --- the store -------------------------------------------------------------------------


def _make_store(client: redis.Redis, settings: LobbySettings) -> SyncStore:
    """The pipelined store, unless the per-call client was asked for or is needed: the
    naive store sends several plain commands per operation, and a cluster client routes
    each call to its own node."""
    if (
        settings.strategy == "naive"
        or settings.client == "per-call"
        or isinstance(client, redis.cluster.RedisCluster)
    ):
        return store_for(
            client,
            settings.strategy,
            pool=settings.pool,
            lobby_ttl=settings.lobby_ttl,
            shards=settings.shards,
        )
    return PipelinedLobbyStore(
        client,
        pool=settings.pool,
        lobby_ttl=settings.lobby_ttl,
        shards=settings.shards,
        connections=settings.connections,
    )


class SetupError(Exception):
    """The options cannot be used (bad Redis URL, unreachable server, pool name taken)."""


def _new_state(settings: LobbySettings, named_pool: bool) -> _ProcessState:
    """Connect and build the store; SetupError with a one-line reason.

    A fresh pool must be empty: a pool that already holds lobbies is used only when the
    user named it with ``--pool``.
    """
    try:
        client = connect(
            settings.redis_url, blocking_pool=True, max_connections=PER_CALL_CONNECTIONS
        )
        client.ping()
        if _is_naive(settings):
            check_naive_supported(client)  # before any user spawns: one line, not 100 % errors
        store = _make_store(client, settings)
        if not named_pool and read_lobbies(
            client, settings.pool, naive=_is_naive(settings), shards=settings.shards
        ):
            raise SetupError(
                f"the fresh pool name {settings.pool!r} already holds lobbies on this server;"
                " run again, or name it with --pool to use it"
            )
    except InvalidInput as exc:
        raise SetupError(str(exc)) from None  # already names the (redacted) URL
    except redis.RedisError as exc:
        where = redact_url(settings.redis_url)
        detail = redact_text(" ".join(str(exc).split()), settings.redis_url)
        raise SetupError(f"cannot use Redis at {where}: {detail}") from None
    except LobbyError as exc:  # the naive strategy on a server without KEYS, say
        raise SetupError(str(exc)) from None
    except SetupError:
        raise
    except Exception as exc:  # lobbycore's validation of the pool name, say
        raise SetupError(" ".join(str(exc).split())) from None
    return _ProcessState(settings, client, store, named_pool)


def _is_naive(settings: LobbySettings) -> bool:
    return settings.strategy == "naive"


def _settings_from(options: argparse.Namespace) -> LobbySettings:
    """Validated settings; SetupError with a one-line reason."""
    try:
        settings = LobbySettings.from_options(options)
    except ValueError as exc:
        raise SetupError(str(exc)) from None
    if settings.result_file is not None and not settings.result_file.parent.is_dir():
        raise SetupError(f"--result-file: no folder {str(settings.result_file.parent)!r}")
    return settings


# --- start -----------------------------------------------------------------------------


def _on_init(environment: Environment, **_kwargs: Any) -> None:
    """Check the options and the Redis URL before any user starts (one line, exit 2).

    Workers only check: the master's lobby options (pool included) reach them with the
    first spawn message, and their store is built then, in test_start.
    """
    options = environment.parsed_options
    if options is None:  # Locust used as a library without our options
        return
    # Registered here, after Locust's own quitting listeners: quitting runs its listeners in
    # reverse, so ours stops the users before a worker tells its master it has quit.
    environment.events.quitting.add_listener(_on_quitting)
    _install_sigint_handler()
    try:
        settings = _settings_from(options)
        if isinstance(environment.runner, WorkerRunner):
            return
        named = bool(settings.pool)
        if not named:
            options.pool = fresh_pool_name()  # sent to the workers with the other options
            settings = _settings_from(options)
        _state[id(environment)] = _new_state(settings, named)
    except SetupError as exc:
        _fail(str(exc))
    if environment.web_ui is not None and environment.web_ui.app is not None:
        environment.web_ui.app.before_request(_web_form_check(environment))


def _on_test_start(environment: Environment, **_kwargs: Any) -> None:
    options = environment.parsed_options
    if options is None:
        return
    state = _state.get(id(environment))
    settings = _settings_from(options)  # checked at init, or by the web form
    if (
        state is None
        or state.released
        or replace(settings, pool=settings.pool or state.settings.pool) != state.settings
    ):
        state = _switch_state(environment, state, settings)
    _freeze_gc()
    state.cpu_at_start = time.process_time()
    state.calls_reported = 0
    state.stats = environment.stats
    state.running = True
    state.ended.clear()
    if not _runs_audit(environment):
        return
    if state.settings.seats is not None:
        state.store.set_seats(state.settings.seats)
    if state.named_pool:  # a fresh pool starts at zero
        if not _is_naive(state.settings):
            state.baseline_joins = state.store.stats().joins
        state.baseline_bookings = len(_snapshot(state).bookings)
    where = "distributed" if isinstance(environment.runner, MasterRunner) else "local"
    log.info(
        "lobbysim: pool %r (%s, %d shards) on %s, strategy %s, %s client, lobbies of %d (%s run)",
        state.settings.pool,
        "named" if state.named_pool else "fresh",
        state.settings.shards,
        redact_url(state.settings.redis_url),
        state.settings.strategy,
        state.settings.client,
        state.settings.max_users,
        where,
    )


def _switch_state(
    environment: Environment, old: _ProcessState | None, settings: LobbySettings
) -> _ProcessState:
    """A worker's first state (named: the master claimed the pool), or the state of a web
    UI run whose options changed (the previous run's pool was released at its stop)."""
    is_worker = isinstance(environment.runner, WorkerRunner)
    reused_fresh = (
        old is not None and not old.named_pool and settings.pool in ("", old.settings.pool)
    )
    named = is_worker or (bool(settings.pool) and not reused_fresh)
    if not named:
        settings = replace(settings, pool=fresh_pool_name())
        assert environment.parsed_options is not None
        environment.parsed_options.pool = settings.pool  # sent to the workers
    try:
        state = _new_state(settings, named)
    except SetupError as exc:  # the web form checked the options; the server may have gone
        log.error("lobbysim: %s", exc)
        raise
    _state[id(environment)] = state
    return state


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
            settings = _settings_from(options)
            state = _state.get(id(environment))
            if state is None or settings.redis_url != state.settings.redis_url:
                _new_state(replace(settings, pool=settings.pool or fresh_pool_name()), True)
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


# --- the garbage collector -------------------------------------------------------------


def _freeze_gc() -> None:
    """Keep full collections out of the measured path.

    Everything alive after start-up (Locust, gevent, redis-py, the users) is moved to the
    permanent generation, so a full collection only walks what the run allocated since;
    and a larger first threshold makes the young collections rarer.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 20)
    _gc_watch.reset()
    if _gc_watch not in gc.callbacks:
        gc.callbacks.append(_gc_watch)


GC_YOUNG_THRESHOLD = 50_000


class _GcWatch:
    """Counts the full collections of a run and times the longest (for the run's log)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.full = 0
        self.longest = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.full += 1
            self.longest = max(self.longest, time.perf_counter() - self._started)


_gc_watch = _GcWatch()


def _on_spawning_complete(**_kwargs: Any) -> None:
    gc.freeze()  # the users, now that they all exist


# --- stop ------------------------------------------------------------------------------

_interrupted = False


def _install_sigint_handler() -> None:
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


WORKER_STOP_GRACE_SECONDS = 10.0
BUSY_WORKER_STATES = (STATE_SPAWNING, STATE_RUNNING, STATE_STOPPING, STATE_CLEANUP)


def _on_quitting(environment: Environment, **_kwargs: Any) -> None:
    """Locust fires ``quitting`` on every stop path, but on Ctrl-C and SIGTERM while the
    users still run (it stops them afterwards). Stop them first, with Locust's own stop,
    whose ``test_stop`` does the rest (on a worker, before Locust's own listener tells the
    master this worker has quit)."""
    state = _state.get(id(environment))
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


def _on_test_stop(environment: Environment, **_kwargs: Any) -> None:
    """The end of a run (``-t``, Ctrl-C, SIGTERM, the web UI's stop): once the users are
    stopped here and on every worker, and their calls in flight are done, the audit; then
    the pool's fate."""
    state = _state.get(id(environment))
    if state is None or not state.running:
        return
    state.running = False
    try:
        _end_run(environment, state)
    finally:
        state.ended.set()


def _end_run(environment: Environment, state: _ProcessState) -> None:
    runner = environment.runner
    stopped_at = time.monotonic()
    if isinstance(runner, MasterRunner):
        settled = _stop_workers(environment, runner)
    else:
        settled = _drain(state)
        _log_generator_cost(environment, state)
    if not _runs_audit(environment):
        return
    if not settled:
        _wait_until_quiet(state.client)
    if not _audit(environment, state):
        environment.process_exit_code = 1
    _release_pool(state)
    _let_the_csv_catch_up(environment, stopped_at)


def _let_the_csv_catch_up(environment: Environment, stopped_at: float) -> None:
    """Locust rewrites its --csv files once a second and not at exit, so the last second's
    calls could be missing from them. Wait (if the audit did not take that long) for one
    more write after the users stopped: the files' totals then match the audit's."""
    if getattr(environment.parsed_options, "csv_prefix", None):
        gevent.sleep(max(0.0, stopped_at + CSV_STATS_INTERVAL_SEC + 0.2 - time.monotonic()))


def _stop_workers(environment: Environment, runner: MasterRunner) -> bool:
    """Tell the workers still running users to quit and wait until each has: a worker
    quits after its users stopped and its calls in flight finished. (After the web UI's
    stop they are already stopped, and stay for the next run.) False if one did not."""
    busy = [c.id for c in runner.clients.all if c.state in BUSY_WORKER_STATES]
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


def _drain(state: _ProcessState) -> bool:
    """Wait for the calls in flight; True if none can still be running at the server."""
    store = state.store
    if isinstance(store, PipelinedLobbyStore):
        return store.pipeline.drain()
    return False  # per-call users were killed mid-call: their commands may still run


def _unanswered(state: _ProcessState) -> int:
    store = state.store
    return store.pipeline.unanswered if isinstance(store, PipelinedLobbyStore) else 0


def _log_generator_cost(environment: Environment, state: _ProcessState) -> None:
    """The generator's own CPU per call: if it nears 1 s / (calls/s), Python is the limit."""
    calls = state.calls_reported + environment.stats.total.num_requests
    cpu = time.process_time() - state.cpu_at_start
    log.info(
        "lobbysim: generator: %d calls, %.0f us of CPU per call; %d full GC collections "
        "(longest %.1f ms); %d calls cut off by the stop",
        calls,
        cpu * 1e6 / max(1, calls),
        _gc_watch.full,
        _gc_watch.longest * 1000,
        _unanswered(state),
    )


def _process_state() -> _ProcessState | None:
    """The state of this process's one Locust environment (these events carry none)."""
    return next(iter(_state.values()), None)


def _on_report_to_master(client_id: str, data: dict[str, Any], **_kwargs: Any) -> None:
    """A worker's report: its calls cut off so far, for the master's audit line. (Runs before
    Locust's own listener, which resets the worker's stats once they are sent.)"""
    state = _process_state()
    if state is None:
        return
    data["lobbysim_unanswered"] = _unanswered(state)
    if state.stats is not None:
        state.calls_reported += state.stats.total.num_requests


def _on_worker_report(client_id: str, data: dict[str, Any], **_kwargs: Any) -> None:
    state = _process_state()
    if state is not None and "lobbysim_unanswered" in data:
        state.unanswered[client_id] = int(data["lobbysim_unanswered"])


QUIET_POLL_SECONDS = 0.2
QUIET_MAX_SECONDS = 15.0


def _wait_until_quiet(client: redis.Redis) -> None:
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


# --- end: audit, then the pool's fate --------------------------------------------------


def _runs_audit(environment: Environment) -> bool:
    return not isinstance(environment.runner, WorkerRunner)


def _release_pool(state: _ProcessState) -> None:
    """Delete the run's fresh pool (after the audit) unless --keep; never a named pool."""
    settings = state.settings
    if state.named_pool or settings.keep:
        log.info("lobbysim: kept pool %r", settings.pool)
        return
    state.released = True
    deleted = delete_pool(
        state.client, settings.pool, naive=_is_naive(settings), shards=settings.shards
    )
    log.info(
        "lobbysim: deleted the run's pool %r (%d keys; --keep keeps it)", settings.pool, deleted
    )


def _snapshot(state: _ProcessState) -> PoolSnapshot:
    return _snapshot_of(state.client, state.settings)


def _snapshot_of(client: redis.Redis, settings: LobbySettings) -> PoolSnapshot:
    return snapshot(client, settings.pool, naive=_is_naive(settings), shards=settings.shards)


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


def _audit(environment: Environment, state: _ProcessState) -> bool:
    """Read the pool, check every guarantee and the run's own counts; print and log the
    verdict. True if nothing is broken."""
    pool = state.settings.pool
    snap = _snapshot(state)
    # A fresh pool got its inventory from this run (--seats): every seat must be accounted
    # for. A named pool may have sold seats before, so only 'never negative' applies there.
    initial = None if state.named_pool else state.settings.seats
    report = check(snap, initial_seats=initial)
    problems = [f"{v.kind}: {v.detail}" for v in report.violations]

    # What the run's own counts explain (the run may share the pool with earlier runs).
    booked = _successes(environment, "book")
    new_in_stream = len(snap.bookings) - state.baseline_bookings
    lost_bookings = max(0, booked - new_in_stream)
    # More stream entries than successful calls is fine: calls cut off by the stop were
    # done by Redis but never reported.
    if lost_bookings:
        problems.append(
            f"{Violation.LOST_BOOKING}: {booked} successful book calls, {new_in_stream} new bookings in the stream"
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
            f"{Violation.UNEXPLAINED_PARTIAL_LOBBIES}: {partial} lobbies not full, the run's leaves and "
            f"party joins explain at most {allowed}"
        )
    reported = _placements(environment)
    naive = _is_naive(state.settings)
    server_count = None if naive else state.store.stats().joins - state.baseline_joins
    lost_joins = server_count is not None and reported > server_count
    if lost_joins:
        problems.append(
            f"{Violation.LOST_JOIN}: the run's clients placed {reported} buyers, the server counted {server_count}"
        )
    for problem in problems[:20]:
        print(f"  {problem[:200]}")
    if len(problems) > 20:
        print(f"  ... and {len(problems) - 20} more")
    counts = report.counts()
    counts[Violation.LOST_BOOKING] += 1 if lost_bookings else 0
    counts[Violation.UNEXPLAINED_PARTIAL_LOBBIES] = 1 if unexplained else 0
    counts[Violation.LOST_JOIN] += 1 if lost_joins else 0
    ok = not problems
    unanswered = _unanswered(state) + sum(state.unanswered.values())
    line = (
        f"lobbysim audit: pool={pool} strategy={state.settings.strategy} ok={str(ok).lower()} "
        f"violations={len(problems)} "
        + " ".join(f"{kind}={counts.get(kind, 0)}" for kind in Violation)
        + f" joins={sum(_successes(environment, name) for name in JOIN_NAMES)}"
        + f" placed_reported={reported} placed_server={'n/a' if server_count is None else server_count}"
        f" bookings={booked} lobbies={report.lobbies} waiting={report.users_waiting}"
        f" unanswered={unanswered}"
    )
    print(line)
    sys.stdout.flush()
    (log.info if ok else log.error)("%s", line)  # also in the web UI's log
    if state.settings.result_file is not None:
        result = {
            "ok": ok,
            "pool": pool,
            "strategy": state.settings.strategy,
            "violations": {str(kind): counts.get(kind, 0) for kind in Violation},
            "problems": problems[:20],
            "joins": sum(_successes(environment, name) for name in JOIN_NAMES),
            "placed_reported": reported,
            "placed_server": server_count,
            "unanswered": unanswered,
            "bookings": booked,
            "lobbies": report.lobbies,
            "waiting": report.users_waiting,
        }
        state.settings.result_file.write_text(json.dumps(result, indent=2) + "\n")
    return ok


def register(environment_events: Any = events) -> None:
    """Hook this module into Locust's events (done once, when the locustfile is imported)."""
    environment_events.init.add_listener(_on_init)
    environment_events.test_start.add_listener(_on_test_start)
    environment_events.test_stop.add_listener(_on_test_stop)
    environment_events.spawning_complete.add_listener(_on_spawning_complete)
    environment_events.report_to_master.add_listener(_on_report_to_master)
    environment_events.worker_report.add_listener(_on_worker_report)


register()
