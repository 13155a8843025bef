"""A simulation's settings, and the simulator's own limits (arrival rate, waits).

The values reach here checked: the lobbysim commands check each flag as they parse it (the
run options' ranges, and the limits below). A SimConfig built in code with a value out of
range raises lobbycore's InvalidInput (a ValueError), in the library's words.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from lobbycore import InvalidInput, async_store_for
from lobbycore.defaults import (
    DEFAULT_LOBBY_TTL,
    DEFAULT_MAX_USERS,
    DEFAULT_WAIT_REPLICAS,
    DEFAULT_WAIT_TIMEOUT,
    MAX_SEATS,
    MAX_TTL_SECONDS,
    MAX_USERS_LIMIT,
    MAX_WAIT_REPLICAS,
    MAX_WAIT_TIMEOUT,
    STRATEGIES,
)
from lobbycore.typing import AsyncStore
from lobbycore.validate import number, strategy_wait, whole

MIN_RATE = 0.1
MAX_RATE = 10_000.0
"""Buyer arrivals per second, at least and at most (the dashboard's +/- keys stay within)."""
MAX_WAIT_SECONDS = 24 * 3600.0
"""A simulated buyer's patience, checkout and book-after delay: a day at most."""
RETRY_SECONDS = 0.5
"""Between two tries of a call that must succeed before buyers carry on (Redis was down)."""
FRESH_POOL_PREFIX = "demo-"


def fresh_pool_name() -> str:
    """A pool name of the demo's own (a run on a real Redis, or one whose pool was lost)."""
    return f"{FRESH_POOL_PREFIX}{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class SimConfig:
    rate: float = 25.0
    """Buyer arrivals per second (Poisson)."""
    max_users: int = DEFAULT_MAX_USERS
    party_share: float = 0.1
    """Share of arrivals that are parties of 2-3 buyers."""
    patience: float = 8.0
    """Mean seconds a buyer waits in a lobby before leaving (exponential)."""
    checkout: float = 0.4
    """Seconds between a lobby filling and its booking call (the card shows 'booking')."""
    book_after: float | None = None
    """Book a lobby that is not full after this many seconds (None: only full lobbies)."""
    seats: int | None = None
    seed: int | None = None
    pool: str = "demo"
    strategy: str = "atomic"
    lobby_ttl: float | None = DEFAULT_LOBBY_TTL
    wait_replicas: int = DEFAULT_WAIT_REPLICAS
    """Replicas each writing call waits for (0: none); too few in time is NotConfirmed."""
    wait_timeout: float = DEFAULT_WAIT_TIMEOUT
    """Seconds a writing call waits for ``wait_replicas``."""

    def __post_init__(self) -> None:
        """InvalidInput for the first value out of range, naming the field."""
        number(self.rate, "rate", MIN_RATE, MAX_RATE, low_included=True)
        whole(self.max_users, "max_users", 1, MAX_USERS_LIMIT)
        number(self.party_share, "party_share", 0.0, 1.0, low_included=True)
        number(self.patience, "patience", 0.0, MAX_WAIT_SECONDS)
        number(self.checkout, "checkout", 0.0, MAX_WAIT_SECONDS, low_included=True)
        if self.book_after is not None:
            number(self.book_after, "book_after", 0.0, MAX_WAIT_SECONDS)
        if self.seats is not None:
            whole(self.seats, "seats", 0, MAX_SEATS)
        if self.strategy not in STRATEGIES:
            raise InvalidInput(
                f"strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}"
            )
        if self.lobby_ttl is not None:
            number(self.lobby_ttl, "lobby_ttl", 0.0, MAX_TTL_SECONDS)
        whole(self.wait_replicas, "wait_replicas", 0, MAX_WAIT_REPLICAS)
        number(self.wait_timeout, "wait_timeout", 0.0, MAX_WAIT_TIMEOUT)
        strategy_wait(self.strategy, self.wait_replicas)

    def store(self, async_client: Any) -> AsyncStore:
        """A store of this strategy, pool, lobby expiry and durability over ``async_client``.

        The atomic store auto-pipelines, as lobbycore's does by default (the calls a tick
        makes share round trips). The naive store has no pipeline: one round trip per
        command, as the races it shows need."""
        return async_store_for(
            async_client,
            self.strategy,
            pool=self.pool,
            lobby_ttl=self.lobby_ttl,
            wait_replicas=self.wait_replicas,
            wait_timeout=self.wait_timeout,
        )
