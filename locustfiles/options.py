"""The lobby options Locust adds to its own command line (and to locust.conf)."""

from __future__ import annotations

import argparse
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from locust import events

from lobbycore.validate import number, whole
from lobbysim.run.options import RunOptions, add_to_locust
from lobbysim.run.redis import LOCAL_URL, redis_url, url_help

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
        default="",
        is_secret=True,
        help=url_help("Redis holding the pool", LOCAL_URL),
    )
    add_to_locust(
        group,
        ["pool"],
        help={
            "pool": "pool name: used as it is, never deleted (default: a fresh pool per run, "
            "locust-<random>, deleted at the end after the audit; workers use the master's)"
        },
    )
    group.add_argument(
        "--keep",
        action="store_true",
        default=False,
        help="keep the run's fresh pool at the end (to inspect it with lobbysim audit)",
    )
    add_to_locust(
        group,
        ["max_users", "strategy", "seats", "party_share"],
        help={
            "party_share": "share of joins made by parties of 2-3, in [0, 1] (default 0; "
            "PartyJoin defaults to 0.5)"
        },
        default={"party_share": 0.0},
    )
    group.add_argument(
        "--arrival-rate",
        type=float,
        default=10.0,
        help="OpenJoins: joins per second per Locust user (the run offers -u times this), "
        "on a fixed schedule (default 10)",
    )
    add_to_locust(group, ["shards", "lobby_ttl", "wait_replicas", "wait_timeout"])
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
    wait_replicas: int = RunOptions.wait_replicas
    wait_timeout: float = RunOptions.wait_timeout
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
            "wait_replicas",
            "wait_timeout",
            "client",
            "connections",
            "result_file",
        }
    )

    @classmethod
    def from_options(cls, options: argparse.Namespace) -> LobbySettings:
        """Validated settings; ValueError with a one-line reason otherwise.

        The run options (values as text, as Locust parsed them or the web form sent them)
        are checked by the run layer's one validation, so a mistake reads as it does in
        every lobbysim command; the scenarios' own options in lobbycore's words."""
        run = RunOptions.from_namespace(options)
        number(options.arrival_rate, "--arrival-rate", 0.0, MAX_ARRIVAL_RATE)
        if options.client not in CLIENTS:
            raise ValueError(
                f"--client must be one of {', '.join(CLIENTS)}, got {options.client!r}"
            )
        whole(options.connections, "--connections", 1, MAX_CONNECTIONS)
        return cls(
            redis_url=redis_url(options.redis_url) or LOCAL_URL,
            pool=run.pool or "",
            max_users=run.max_users,
            strategy=run.strategy,
            seats=run.seats,
            party_share=run.party_share,
            lobby_ttl=run.lobby_ttl,
            arrival_rate=options.arrival_rate,
            shards=run.shards,
            wait_replicas=run.wait_replicas,
            wait_timeout=run.wait_timeout,
            client=options.client,
            connections=options.connections,
            keep=options.keep,
            result_file=Path(options.result_file) if options.result_file else None,
        )


def fresh_pool_name() -> str:
    return f"locust-{uuid.uuid4().hex[:10]}"
