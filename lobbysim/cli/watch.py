"""``lobbysim watch``: the dashboard following a pool that another process is loading."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from lobbysim.run.options import add_to_argparse
from lobbysim.run.redis import required_redis_url, url_help

from ._common import (
    UsageError,
    add_redis_url,
    require_extra,
    run_seconds,
)
from ._headless import run_headless
from ._redis import open_clients

if TYPE_CHECKING:
    from ._common import Commands

NAME = "watch"
HEADLESS_SECONDS = 10.0


def add_parser(commands: Commands) -> None:
    watch = commands.add_parser(
        NAME,
        help="the same dashboard following a pool that another process (Locust) is loading",
        description=(
            "Follow a pool through lobbycore's event stream, counting from its first event; "
            "read-only. The dashboard rides out Redis outages (its title shows 'disconnected "
            "— retrying'), says when the pool holds no key or is gone (its state lost on the "
            "server), and waits for it. --headless prints one key=value summary line in every "
            "ending (ctrl-c and SIGTERM too), with the verdict (ok=) and "
            "checked=nothing when nothing ever happened in the pool (no event, no join in its "
            "counters); exit 0, 1 if a guarantee broke or the watch checked nothing, 2 on bad "
            "input or an error, 3 if Redis failed or lost the pool during the run (the counts "
            "cover only part of it), 4 if the pool never held a key, 130 or 143 if ended by "
            "SIGINT or SIGTERM."
        ),
    )
    add_redis_url(watch, url_help("the Redis holding the pool"))
    watch.add_argument("--pool", required=True, help="pool name")
    watch.add_argument(
        "--headless", action="store_true", help="no screen: follow, print a summary line, exit"
    )
    watch.add_argument(
        "--duration",
        type=run_seconds,
        default=None,
        help=f"seconds to follow headless (default {HEADLESS_SECONDS:g})",
    )
    add_to_argparse(watch, ["shards"])
    watch.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from lobbycore import InvalidInput
    from simulator import PoolFollower

    require_extra(NAME, "tui")
    url = required_redis_url(args.redis_url, NAME, "the Redis that holds the pool")
    try:
        follower = PoolFollower(open_clients(url), args.pool, shards=args.shards)
    except InvalidInput as exc:
        raise UsageError(str(exc)) from None
    if args.headless:
        return run_headless(follower, args.duration or HEADLESS_SECONDS)
    from simulator.dashboard import LobbySimApp

    app = LobbySimApp(follower)
    app.run()
    if app.failure is not None:
        raise app.failure
    return 0
