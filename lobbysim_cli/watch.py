"""``lobbysim watch``: the dashboard following a pool that another process is loading."""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING

from ._common import (
    SHARDS_HELP,
    UsageError,
    add_redis_url,
    headless_status,
    require_extra,
    run_seconds,
    shard_count,
    summary_line,
    url_or_env,
)
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
            "Follow a pool through lobbycore's event stream; read-only. The dashboard rides "
            "out Redis outages (its title shows 'disconnected — retrying') and says when the "
            "pool holds no key. --headless prints one key=value summary line; exit 0, 1 if a "
            "guarantee broke, 2 on bad input, 3 if Redis failed during the run (the counts "
            "cover only part of it), 4 if the pool never held a key."
        ),
    )
    add_redis_url(watch, "the Redis holding the pool (default: REDIS_URL)")
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
    watch.add_argument("--shards", type=shard_count, default=1, help=SHARDS_HELP)
    watch.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from lobbycore import InvalidInput
    from simulator import PoolFollower

    require_extra(NAME, "tui")
    url = url_or_env(args.redis_url)
    if not url:
        raise UsageError("watch needs --redis-url (or REDIS_URL): the Redis that holds the pool")
    try:
        follower = PoolFollower(open_clients(url), args.pool, shards=args.shards)
    except InvalidInput as exc:
        raise UsageError(str(exc)) from None
    if args.headless:
        asyncio.run(follower.run(args.duration or HEADLESS_SECONDS))
        summary = {
            "pool": args.pool,
            "joins": str(follower.metrics.joins.total),
            "leaves": str(follower.metrics.leaves.total),
            "bookings": str(follower.metrics.bookings.total),
            "lobbies": str(len(follower.board.cards)),
            "violations": str(follower.auditor.violations),
            "pool_found": "yes" if follower.pool_seen else "no",
            **follower.health(),
        }
        print(summary_line(summary))
        return headless_status(
            violations=follower.auditor.violations,
            incomplete=follower.incomplete,
            pool_missing=not follower.pool_seen,
        )
    from simulator.dashboard import LobbySimApp

    app = LobbySimApp(follower)
    app.run()
    if app.failure is not None:
        raise app.failure
    return 0
