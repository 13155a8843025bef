"""``lobbysim audit``: read a pool and check every guarantee (SCAN, never KEYS).

Exit status: 0 no violation, 1 violations, 2 bad input or Redis unusable, 4 no key of the
pool under the layout and shard count given (the line says where the name does exist).
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import TYPE_CHECKING

from lobbysim.run.options import add_to_argparse, validate
from lobbysim.run.redis import open_clients, required_redis_url, url_help

from ._common import (
    EXIT_NO_POOL,
    EXIT_VIOLATIONS,
    UsageError,
    add_redis_url,
    choice_of,
    int_in,
)

if TYPE_CHECKING:
    from lobbycore.audit import PoolLayout

    from ._common import Commands

NAME = "audit"
LAYOUTS = ("lobbycore", "article")
SHOWN = 20
"""Violations listed one per line; the rest are counted."""


def add_parser(commands: Commands) -> None:
    audit = commands.add_parser(
        NAME,
        help="check every lobby guarantee on a pool (SCAN, never KEYS)",
        description=(
            "Read a pool and check its invariants. Exit 0 if all hold, 1 if any is broken, "
            "2 on bad input or an unusable Redis, 4 if the pool is not found."
        ),
    )
    add_redis_url(audit, url_help("the Redis holding the pool"))
    audit.add_argument("--pool", help="pool name (required unless --layout article)")
    audit.add_argument(
        "--naive", action="store_true", help="the pool was filled by the naive store"
    )
    add_to_argparse(audit, ["shards"])
    audit.add_argument(
        "--initial-seats",
        type=int_in(0),
        metavar="N",
        help="the inventory the pool was given (its last set_seats): then every seat must be "
        "accounted for (N = seats left + seats booked)",
    )
    audit.add_argument(
        "--layout",
        type=choice_of(LAYOUTS),
        default="lobbycore",
        help="lobbycore (default), or article: the article's own keys, lobby:<prefix>:<id>",
    )
    audit.add_argument("--prefix", help="--layout article: the article's PREFIX (e.g. ticket)")
    add_to_argparse(
        audit,
        ["max_users"],
        help={
            "max_users": "--layout article: the lobby size, for lobbies that do not record theirs"
        },
        default={"max_users": None},
    )
    audit.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from lobbycore.audit import (
        PoolLayout,
        ReadCutOff,
        check,
        memory_policies,
        pool_layouts,
        snapshot,
    )

    if args.layout == "article":
        # The naive store writes the article's keys: its reader audits them (read only).
        if not args.prefix or args.pool or args.naive or args.shards > 1:
            raise UsageError("--layout article takes --prefix (and no --pool, --naive, --shards)")
        args.pool, args.naive = args.prefix, True
    elif args.pool is None:
        raise UsageError("--pool is required (or --layout article --prefix P)")
    validate({"strategy": "naive" if args.naive else "atomic", "shards": args.shards})
    url = required_redis_url(args.redis_url, NAME, "the Redis that holds the pool")
    client = open_clients(url).sync
    try:
        snap = snapshot(client, args.pool, naive=args.naive, shards=args.shards)
    except ReadCutOff as exc:
        raise UsageError(str(exc)) from None
    if args.max_users is not None:
        sized = {
            lobby_id: lobby
            if lobby.max_users
            else dataclasses.replace(lobby, max_users=args.max_users)
            for lobby_id, lobby in snap.lobbies.items()
        }
        snap = dataclasses.replace(snap, lobbies=sized)
    if not snap.exists:
        asked = PoolLayout(naive=args.naive, shards=args.shards)
        elsewhere = [
            difference(asked, layout)
            for layout in pool_layouts(client, args.pool)
            if layout != asked
        ]
        where = f"it exists {', or '.join(elsewhere)}" if elsewhere else "no key"
        print(f"lobbysim audit: pool {args.pool!r} not found ({where})")
        return EXIT_NO_POOL
    report = check(snap, initial_seats=args.initial_seats)
    for finding in report.findings[:SHOWN]:
        print(f"  {finding}")
    if len(report.findings) > SHOWN:
        print(f"  ... and {len(report.findings) - SHOWN} more")
    policies = memory_policies(client)
    for warning in sorted({w for p in policies if (w := p.warning())}):
        print(f"warning: {warning}")
    shown = ",".join(sorted({p.policy for p in policies})) or "unknown"
    print(f"pool={args.pool} {report.summary()} maxmemory_policy={shown}")
    return 0 if report.ok else EXIT_VIOLATIONS


def difference(asked: PoolLayout, found: PoolLayout) -> str:
    """How the flags that read ``found`` differ from those given, naming only the flags that
    are wrong: ``without --naive``, ``with --shards 3``, ``with --naive, without --shards``."""
    changes = []
    if found.naive != asked.naive:
        changes.append("with --naive" if found.naive else "without --naive")
    if found.shards != asked.shards:
        changes.append(f"with --shards {found.shards}" if found.shards > 1 else "without --shards")
    return ", ".join(changes)
