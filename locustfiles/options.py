"""The lobby options Locust adds to its own command line (and to locust.conf)."""

from __future__ import annotations

import argparse
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from locust import events

from lobbycore.defaults import (
    DEFAULT_LOBBY_TTL,
    DEFAULT_MAX_USERS,
    MAX_SHARDS,
    MAX_TTL_SECONDS,
    MAX_USERS_LIMIT,
    STRATEGIES,
)
from lobbycore.validate import number, whole

CLIENTS = ("pipelined", "per-call")
DEFAULT_CONNECTIONS = 2
MAX_CONNECTIONS = 64
MAX_ARRIVAL_RATE = 100_000.0
"""OpenJoins' joins per second per Locust user, at most."""


class _WebUiGroup:
    """An argument group whose options also appear in Locust's web UI form.

    Locust's own ``add_argument`` marks an option for the form; an argparse group's does
    not, so the marks are set here (``is_secret`` masks the field).
    """

    def __init__(self, group: Any) -> None:
        self._group = group

    def add_argument(self, *args: Any, is_secret: bool = False, **kwargs: Any) -> Any:
        action = self._group.add_argument(*args, **kwargs)
        action.include_in_web_ui = True
        action.is_secret = is_secret
        action.is_required = False
        action.is_multiple = False
        return action


@events.init_command_line_parser.add_listener
def add_lobby_options(parser: Any, **_kwargs: Any) -> None:
    group = _WebUiGroup(
        parser.add_argument_group("lobbysim", "Where and how the simulated buyers join lobbies")
    )
    group.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/0",
        is_secret=True,
        help="Redis holding the pool (default redis://127.0.0.1:6379/0)",
    )
    group.add_argument(
        "--pool",
        default="",
        help="pool name: used as it is, never deleted (default: a fresh pool per run, "
        "locust-<random>, deleted at the end after the audit; workers use the master's)",
    )
    group.add_argument(
        "--keep",
        action="store_true",
        default=False,
        help="keep the run's fresh pool at the end (to inspect it with lobbysim audit)",
    )
    group.add_argument(
        "--max-users",
        type=int,
        default=DEFAULT_MAX_USERS,
        help=f"lobby size (default {DEFAULT_MAX_USERS})",
    )
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
        help="OpenJoins: joins per second per Locust user (the run offers -u times this), "
        "on a fixed schedule (default 10)",
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
        default=DEFAULT_LOBBY_TTL,
        help=f"seconds before an unbooked lobby expires (default {DEFAULT_LOBBY_TTL:g})",
    )
    group.add_argument(
        "--client",
        choices=CLIENTS,
        default="pipelined",
        help="pipelined: concurrent users' calls share round trips on a few connections "
        "(default); per-call: one round trip per call, one pooled connection per busy user",
    )
    group.add_argument(
        "--connections",
        type=int,
        default=DEFAULT_CONNECTIONS,
        help=f"pipelined client: batches in flight at once, one connection each "
        f"(default {DEFAULT_CONNECTIONS})",
    )
    group.add_argument(
        "--result-file",
        default="",
        env_var="LOBBYSIM_RESULT_FILE",
        help="write the end-of-run audit here as a JSON object (default: none; the "
        "'lobbysim audit:' line is printed either way)",
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
    client: str = "pipelined"
    connections: int = DEFAULT_CONNECTIONS
    keep: bool = False
    result_file: Path | None = None
    """Where the end-of-run audit writes its JSON result (None: nowhere)."""

    OPTION_NAMES: ClassVar[frozenset[str]] = frozenset(
        {
            "redis_url",
            "pool",
            "keep",
            "max_users",
            "strategy",
            "seats",
            "party_share",
            "arrival_rate",
            "shards",
            "lobby_ttl",
            "client",
            "connections",
            "result_file",
        }
    )

    @classmethod
    def from_options(cls, options: argparse.Namespace) -> LobbySettings:
        """Validated settings; ValueError with a one-line reason otherwise.

        A range shared with the lobbysim commands is checked in lobbycore's words (whole,
        number: InvalidInput is a ValueError), so a mistake reads the same in both."""
        whole(options.max_users, "--max-users", 1, MAX_USERS_LIMIT)
        if not 0.0 <= options.party_share <= 1.0:
            raise ValueError(f"--party-share must be in 0..1, got {options.party_share}")
        if options.seats < -1:
            raise ValueError(f"--seats must be >= 0 (or -1 for unlimited), got {options.seats}")
        number(options.lobby_ttl, "--lobby-ttl", 0.0, MAX_TTL_SECONDS)
        if not 0 < options.arrival_rate <= MAX_ARRIVAL_RATE:
            raise ValueError(
                f"--arrival-rate must be in (0, {MAX_ARRIVAL_RATE:g}] per user, "
                f"got {options.arrival_rate}"
            )
        whole(options.shards, "--shards", 1, MAX_SHARDS)
        if options.strategy not in STRATEGIES:
            raise ValueError(
                f"--strategy must be one of {', '.join(STRATEGIES)}, got {options.strategy!r}"
            )
        if options.client not in CLIENTS:
            raise ValueError(
                f"--client must be one of {', '.join(CLIENTS)}, got {options.client!r}"
            )
        if options.shards > 1 and options.strategy == "naive":
            raise ValueError("--shards applies to --strategy atomic only")
        whole(options.connections, "--connections", 1, MAX_CONNECTIONS)
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
            client=options.client,
            connections=options.connections,
            keep=options.keep,
            result_file=Path(options.result_file) if options.result_file else None,
        )


def fresh_pool_name() -> str:
    return f"locust-{uuid.uuid4().hex[:10]}"
