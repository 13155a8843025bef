"""What each Locust process keeps about its run, and where the run's phases find it.

One record per Locust environment (a process has one: a local run, a master or a worker),
made when the run's pool is claimed (``pool.py``) and read by everything after: the users
(their settings and store), the start, the stop, the audit and the pool's release.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import redis
from gevent.event import Event
from locust.env import Environment

from lobbycore.typing import SyncStore
from lobbysim.run.pools import Claim

from .latency import Latencies
from .options import LobbySettings


def _set_event() -> Event:
    event = Event()
    event.set()
    return event


@dataclass
class RunState:
    settings: LobbySettings
    client: redis.Redis
    store: SyncStore
    named_pool: bool
    claimed: Claim  # the run layer's claim: its layout, and whether the run made it
    baseline_bookings: int = 0
    baseline_joins: int = 0
    cpu_at_start: float = 0.0
    calls_reported: int = 0  # a worker's calls already sent to the master (its stats reset)
    stats: Any = None  # the environment's RequestStats, for listeners that get no environment
    running: bool = False  # between test_start and the end of that run's test_stop
    ended: Event = field(default_factory=_set_event)  # that run's test_stop is done
    released: bool = False  # the fresh pool was deleted: a new run needs a new one
    unanswered: dict[str, int] = field(default_factory=dict)  # per worker, on a master
    latency: Latencies = field(default_factory=Latencies)  # on a master: its workers' calls


_states: dict[int, RunState] = {}


def set_state(environment: Environment, state: RunState) -> None:
    _states[id(environment)] = state


def find_state(environment: Environment) -> RunState | None:
    """The environment's run, or None before its pool is claimed (a worker before its
    first spawn message, or Locust used as a library without our options)."""
    return _states.get(id(environment))


def process_state() -> RunState | None:
    """The run of this process's one Locust environment (for events that carry none)."""
    return next(iter(_states.values()), None)


def settings_of(environment: Environment) -> LobbySettings:
    return _states[id(environment)].settings


def process_store(environment: Environment) -> SyncStore:
    return _states[id(environment)].store


def latencies_of(environment: Environment) -> Latencies:
    return _states[id(environment)].latency
