"""``lobbysim demo``: simulated buyers join lobbies through lobbycore, on a live dashboard."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

import redis

from lobbycore.defaults import DEFAULT_LOBBY_TTL, MAX_TTL_SECONDS, STRATEGIES

from ._common import (
    POOL_RULE,
    UsageError,
    add_max_users,
    add_pool_options,
    add_redis_url,
    finite_float,
    float_in,
    one_line,
    require_extra,
    run_seconds,
    url_or_env,
)
from ._headless import run_headless
from ._redis import claim_pool, open_clients

if TYPE_CHECKING:
    from simulator import SimConfig

    from ._common import Commands

NAME = "demo"
HEADLESS_SECONDS = 10.0

FLAGS = {
    "rate": "--rate",
    "max_users": "--max-users",
    "party_share": "--party-share",
    "patience": "--patience",
    "book_after": "--book-after",
    "seats": "--seats",
    "seed": "--seed",
    "pool": "--pool",
    "strategy": "--strategy",
    "lobby_ttl": "--lobby-ttl",
}
"""The SimConfig field each option sets, so that its errors name the option."""


def add_parser(commands: Commands) -> None:
    demo = commands.add_parser(
        NAME,
        help="the live dashboard: simulated buyers join lobbies, lobbies fill and get booked",
        description=(
            "Simulated ticket buyers arrive, join lobbies through lobbycore, wait, leave when "
            "impatient, and a lobby is booked as soon as it is full. Runs on an embedded "
            "in-process Redis unless --redis-url (or REDIS_URL) names one. Keys: space pause, "
            "+/- arrival rate, s atomic/naive, b book full lobbies, r reset, q quit. "
            "The dashboard rides out Redis outages (its title shows 'disconnected — retrying'); "
            "a server that comes back without the pool (a restart without persistence, a "
            "FLUSHALL) is said so, and the run carries on in a fresh pool. "
            "--headless prints one key=value summary line in every ending (ctrl-c and SIGTERM "
            "too); exit 0, 1 if a guarantee broke, 2 on bad input or an error, 3 if Redis "
            "failed or lost the pool during the run (the counts cover only part of it), 130 "
            "or 143 if ended by SIGINT or SIGTERM. "
            + POOL_RULE.format(reset=", and the r (reset) and s (switch strategy) keys refuse")
        ),
    )
    add_redis_url(demo, "run against this Redis (default: REDIS_URL, else embedded)")
    add_pool_options(demo, "pool name (default: demo, or a fresh demo-<random> on a real Redis)")
    demo.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default="atomic",
        help="lobbycore, or the article's algorithm",
    )
    demo.add_argument(
        "--rate", type=finite_float, default=25.0, help="buyer arrivals per second (default 25)"
    )
    add_max_users(demo)
    demo.add_argument(
        "--party-share",
        type=finite_float,
        default=0.1,
        help="share of arrivals that are parties of 2-3 (default 0.1)",
    )
    demo.add_argument(
        "--patience",
        type=finite_float,
        default=8.0,
        help="mean seconds a buyer waits before leaving (default 8)",
    )
    demo.add_argument(
        "--book-after",
        type=finite_float,
        default=None,
        help="also book lobbies not yet full after this many seconds",
    )
    demo.add_argument("--seats", type=int, default=None, help="seat inventory (default unlimited)")
    demo.add_argument("--seed", type=int, default=None, help="random seed, for a reproducible run")
    demo.add_argument(
        "--lobby-ttl",
        type=float_in(0.0, MAX_TTL_SECONDS),
        default=DEFAULT_LOBBY_TTL,
        help=f"seconds before an unbooked lobby expires (default {DEFAULT_LOBBY_TTL:g})",
    )
    demo.add_argument(
        "--headless", action="store_true", help="no screen: run, print a summary line, exit"
    )
    demo.add_argument(
        "--duration",
        type=run_seconds,
        default=None,
        help=f"seconds to run headless (default {HEADLESS_SECONDS:g})",
    )
    demo.set_defaults(handler=run)


def sim_config(args: argparse.Namespace, pool: str) -> SimConfig:
    """The simulation's settings; a value out of range is a UsageError naming its option."""
    from simulator.engine import SimConfig, SimConfigError

    try:
        return SimConfig(
            rate=args.rate,
            max_users=args.max_users,
            party_share=args.party_share,
            patience=args.patience,
            book_after=args.book_after,
            seats=args.seats,
            seed=args.seed,
            pool=pool,
            strategy=args.strategy,
            lobby_ttl=args.lobby_ttl,
        )
    except SimConfigError as exc:
        raise UsageError(f"{FLAGS.get(exc.field, exc.field)} {exc.reason}") from None


def run(args: argparse.Namespace) -> int:
    from lobbycore import InvalidInput, check_naive_supported
    from lobbycore.admin import delete_pool
    from simulator import Simulation
    from simulator.engine import fresh_pool_name

    require_extra(NAME, "tui")
    url = url_or_env(args.redis_url)
    if url is None:
        require_extra(NAME, "embedded")
    pool = args.pool or ("demo" if url is None else fresh_pool_name())
    config = sim_config(args, pool)
    clients = open_clients(url)
    owned = claim_pool(clients.sync_client, pool, reuse=args.reuse_pool, where=clients.where)
    if config.strategy == "naive":
        check_naive_supported(clients.sync_client)  # KeysUnavailable: one line, exit 2
    try:
        simulation = Simulation(clients, config, owns_pool=owned)
    except InvalidInput as exc:
        raise UsageError(str(exc)) from None
    try:
        if args.headless:
            return run_headless(simulation, args.duration or HEADLESS_SECONDS)
        from simulator.dashboard import LobbySimApp

        app = LobbySimApp(simulation)
        app.run()
        if app.failure is not None:
            raise app.failure
        return 0
    finally:
        # The pools the run made: the first (unless reused), and a fresh one for each pool
        # whose state the server lost.
        for made in simulation.created_pools if url is not None and not args.keep else ():
            try:
                for naive in (False, True):
                    delete_pool(clients.sync_client, made, naive=naive)
            except redis.RedisError as exc:
                print(
                    f"lobbysim: warning: pool {made!r} not deleted: {one_line(exc, url)}",
                    file=sys.stderr,
                )
