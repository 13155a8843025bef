"""``lobbysim demo``: simulated buyers join lobbies through lobbycore, on a live dashboard."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

import redis

from lobbysim.run.options import RunOptions, add_to_argparse
from lobbysim.run.pools import Claim, claim, release
from lobbysim.run.redis import redis_url, url_help

from ._common import (
    POOL_RULE,
    UsageError,
    add_pool_options,
    add_redis_url,
    float_in,
    int_in,
    one_line,
    require_extra,
    run_seconds,
)
from ._headless import run_headless
from ._redis import open_clients

if TYPE_CHECKING:
    from simulator import SimConfig

    from ._common import Commands

NAME = "demo"
HEADLESS_SECONDS = 10.0


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
            "too), with the verdict (ok=) and checked=nothing when no "
            "call was answered; exit 0, 1 if a guarantee broke or the run checked nothing, 2 "
            "on bad input or an error, 3 if Redis failed or lost the pool during the run (the "
            "counts cover only part of it), 130 or 143 if ended by SIGINT or SIGTERM. "
            + POOL_RULE.format(reset=", and the r (reset) and s (switch strategy) keys refuse")
        ),
    )
    add_redis_url(demo, url_help("run against this Redis", "an embedded one"))
    add_pool_options(demo, "pool name (default: demo, or a fresh demo-<random> on a real Redis)")
    add_to_argparse(demo, ["strategy"])
    demo.add_argument(
        "--rate",
        type=_rate,
        default=25.0,
        help="buyer arrivals per second (default 25)",
    )
    add_to_argparse(demo, ["max_users", "party_share"])
    demo.add_argument(
        "--patience",
        type=_wait,
        default=8.0,
        help="mean seconds a buyer waits before leaving (default 8)",
    )
    demo.add_argument(
        "--book-after",
        type=_wait,
        default=None,
        help="also book lobbies not yet full after this many seconds",
    )
    add_to_argparse(demo, ["seats"])
    demo.add_argument("--seed", type=int_in(-(2**63), 2**63 - 1), default=None,
                      help="random seed, for a reproducible run")  # fmt: skip
    add_to_argparse(demo, ["lobby_ttl", "wait_replicas", "wait_timeout"])
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


# The simulator's own limits, read when the flag is given (building the parser loads no
# simulator).


def _rate(text: str) -> float:
    from simulator.config import MAX_RATE, MIN_RATE

    return float_in(MIN_RATE, MAX_RATE, low_included=True)(text)


def _wait(text: str) -> float:
    from simulator.config import MAX_WAIT_SECONDS

    return float_in(0.0, MAX_WAIT_SECONDS)(text)


def sim_config(args: argparse.Namespace, pool: str) -> SimConfig:
    """The simulation's settings, from options each checked as it was parsed."""
    from simulator import SimConfig

    run = RunOptions.from_namespace(args)
    return SimConfig(
        rate=args.rate,
        max_users=run.max_users,
        party_share=run.party_share,
        patience=args.patience,
        book_after=args.book_after,
        seats=run.seats,
        seed=args.seed,
        pool=pool,
        strategy=run.strategy,
        lobby_ttl=run.lobby_ttl,
        wait_replicas=run.wait_replicas,
        wait_timeout=run.wait_timeout,
    )


def run(args: argparse.Namespace) -> int:
    from lobbycore import InvalidInput, PoolLayout, check_naive_supported
    from simulator import Simulation
    from simulator.config import fresh_pool_name

    require_extra(NAME, "tui")
    url = redis_url(args.redis_url)
    if url is None:
        require_extra(NAME, "embedded")
    pool = args.pool or ("demo" if url is None else fresh_pool_name())
    config = sim_config(args, pool)
    clients = open_clients(url)
    layout = PoolLayout.of(config.strategy)
    claimed = claim(clients.sync_client, pool, layout, reuse=args.reuse_pool, where=clients.where)
    owned = claimed.fresh
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
        # whose state the server lost; in both layouts (the s key switches strategy).
        for made in simulation.created_pools if url is not None else ():
            try:
                release(
                    clients.sync_client,
                    Claim(made, layout, fresh=True),
                    keep=args.keep,
                    also=(PoolLayout(naive=not layout.naive),),
                )
            except redis.RedisError as exc:
                print(
                    f"lobbysim: warning: pool {made!r} not deleted: {one_line(exc, url)}",
                    file=sys.stderr,
                )
