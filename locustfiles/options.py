"""The lobby options Locust adds to its own command line (and to locust.conf)."""

from __future__ import annotations

import argparse
import uuid
from dataclasses import dataclass
from typing import Any

from locust import events

STRATEGIES = ("atomic", "naive")


@events.init_command_line_parser.add_listener
def add_lobby_options(parser: Any, **_kwargs: Any) -> None:
    group = parser.add_argument_group("lobbysim", "Where and how the simulated buyers join lobbies")
    group.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/0",
        help="Redis holding the pool (default redis://127.0.0.1:6379/0)",
    )
    group.add_argument(
        "--pool",
        default="",
        help="pool name (default: a fresh one per run, locust-<random>; the master's is used by its workers)",
    )
    group.add_argument("--max-users", type=int, default=4, help="lobby size (default 4)")
    group.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default="atomic",
        help="atomic: lobbycore; naive: the article's algorithm (fails the audit)",
    )
    group.add_argument(
        "--seats", type=int, default=-1, help="seat inventory set at start (default: unlimited)"
    )
    group.add_argument(
        "--party-share",
        type=float,
        default=0.0,
        help="share of joins made by parties of 2-3 (0..1, default 0; PartyJoin defaults to 0.5)",
    )
    group.add_argument(
        "--arrival-rate",
        type=float,
        default=10.0,
        help="OpenJoins: joins per second per Locust user, on a fixed schedule (default 10)",
    )
    group.add_argument(
        "--shards",
        type=int,
        default=1,
        help="split the pool into this many sub-pools, each on its own hash tag "
        "(atomic strategy; spreads one pool over a cluster's primaries; default 1)",
    )
    group.add_argument(
        "--lobby-ttl",
        type=float,
        default=600.0,
        help="seconds before an unbooked lobby expires (default 600)",
    )


@dataclass(frozen=True)
class LobbySettings:
    redis_url: str
    pool: str
    max_users: int
    strategy: str
    seats: int | None
    party_share: float
    lobby_ttl: float
    arrival_rate: float
    shards: int = 1

    @classmethod
    def from_options(cls, options: argparse.Namespace) -> LobbySettings:
        """Validated settings; ValueError with a one-line reason otherwise."""
        if not 1 <= options.max_users <= 1000:
            raise ValueError(f"--max-users must be in 1..1000, got {options.max_users}")
        if not 0.0 <= options.party_share <= 1.0:
            raise ValueError(f"--party-share must be in 0..1, got {options.party_share}")
        if options.seats < -1:
            raise ValueError(f"--seats must be >= 0 (or -1 for unlimited), got {options.seats}")
        if not options.lobby_ttl > 0:
            raise ValueError(f"--lobby-ttl must be > 0, got {options.lobby_ttl}")
        if not 0 < options.arrival_rate <= 100_000:
            raise ValueError(
                f"--arrival-rate must be in (0, 100000] per user, got {options.arrival_rate}"
            )
        if not 1 <= options.shards <= 1024:
            raise ValueError(f"--shards must be in 1..1024, got {options.shards}")
        if options.shards > 1 and options.strategy == "naive":
            raise ValueError("--shards applies to --strategy atomic only")
        return cls(
            redis_url=options.redis_url,
            pool=options.pool,
            max_users=options.max_users,
            strategy=options.strategy,
            seats=None if options.seats < 0 else options.seats,
            party_share=options.party_share,
            lobby_ttl=options.lobby_ttl,
            arrival_rate=options.arrival_rate,
            shards=options.shards,
        )


def fresh_pool_name() -> str:
    return f"locust-{uuid.uuid4().hex[:10]}"
