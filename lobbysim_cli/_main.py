"""Entry point of ``lobbysim``. Errors are one line on stderr and exit status 2."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import uuid
from collections.abc import Sequence
from typing import Any, NoReturn

from lobbycore import LobbyError

from ._redact import redact_url

EXIT_VIOLATIONS = 1
EXIT_USAGE = 2
ASYNC_CONNECTIONS = 64


class UsageError(Exception):
    """Bad input from the command line: reported in one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse prints the whole usage block; one line is easier to read in a log.
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _clients(url: str | None) -> tuple[Any, Any, str]:
    """(async client, sync client, description) for a URL, or an embedded fakeredis."""
    import redis.asyncio

    # A blocking pool makes excess concurrent calls wait for a connection instead of failing.
    if url is None:
        import fakeredis

        server = fakeredis.FakeServer()
        return (
            fakeredis.FakeAsyncRedis(
                server=server,
                connection_pool_class=redis.asyncio.BlockingConnectionPool,
                max_connections=ASYNC_CONNECTIONS,
            ),
            fakeredis.FakeRedis(server=server),
            "embedded in-process Redis (fakeredis + Lua)",
        )
    import redis

    options: dict[str, Any] = {"socket_connect_timeout": 3, "socket_timeout": 10}
    try:
        sync_client = redis.Redis.from_url(url, **options)
        sync_client.ping()
        async_client = redis.asyncio.Redis(
            connection_pool=redis.asyncio.BlockingConnectionPool.from_url(
                url, max_connections=ASYNC_CONNECTIONS, **options
            )
        )
    except (ValueError, redis.RedisError) as exc:
        raise UsageError(f"cannot use Redis at {redact_url(url)}: {_one_line(exc, url)}") from None
    return async_client, sync_client, f"Redis at {redact_url(url)}"


def _one_line(exc: BaseException, url: str | None = None) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text.replace(url, redact_url(url)) if url else text


def cmd_race(args: argparse.Namespace) -> int:
    from ._race import race, render

    async_client, sync_client, where = _clients(args.redis_url)
    pool = args.pool or f"race-{uuid.uuid4().hex[:8]}"
    print(
        f"{args.users} buyers, {args.concurrency} at a time, lobbies of {args.max_users}, "
        f"pool {pool!r} on {where}"
    )
    results = asyncio.run(
        race(
            async_client,
            sync_client,
            pool=pool,
            users=args.users,
            concurrency=args.concurrency,
            max_users=args.max_users,
            keep=args.keep,
        )
    )
    print(render(results))
    for result in results:
        print(
            f"strategy={result.strategy} joins_per_s={result.joins_per_s:.0f} {result.report.summary()}"
        )
    atomic = results[0]
    return EXIT_VIOLATIONS if not atomic.report.ok else 0


def cmd_audit(args: argparse.Namespace) -> int:
    from lobbycore.audit import check, snapshot

    _, sync_client, _where = _clients(args.redis_url)
    report = check(snapshot(sync_client, args.pool, naive=args.naive))
    for violation in report.violations[:20]:
        print(f"  {violation.kind}: {violation.detail}")
    if len(report.violations) > 20:
        print(f"  ... and {len(report.violations) - 20} more")
    print(f"pool={args.pool} {report.summary()}")
    return 0 if report.ok else EXIT_VIOLATIONS


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lobbysim",
        description=(
            "lobbysim: a ticketing lobby engine on Redis (lobbycore), its simulator and load tests."
        ),
        epilog="Run 'lobbysim COMMAND --help' for a command's options.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    race = commands.add_parser(
        "race",
        help="the same join storm against lobbycore and the article's algorithm, side by side",
        description=(
            "Concurrent buyers join lobbies, then two bookers race for every full lobby; "
            "once with lobbycore, once with the article's algorithm. Both pools are then "
            "audited. Exit 1 if lobbycore broke a guarantee (it should not), else 0."
        ),
    )
    race.add_argument("--redis-url", help="run against this Redis (default: embedded fakeredis)")
    race.add_argument("--pool", help="pool name (default: a fresh random one)")
    race.add_argument("--users", type=_positive_int, default=400, help="buyers (default 400)")
    race.add_argument(
        "--concurrency", type=_positive_int, default=50, help="concurrent joiners (default 50)"
    )
    race.add_argument("--max-users", type=_positive_int, default=4, help="lobby size (default 4)")
    race.add_argument(
        "--keep",
        action="store_true",
        help="keep the pool's keys afterwards (default: delete them; nothing else is touched)",
    )
    race.set_defaults(handler=cmd_race)

    audit = commands.add_parser(
        "audit",
        help="check every lobby guarantee on a pool (SCAN, never KEYS)",
        description="Read a pool and check its invariants. Exit 1 if any is broken.",
    )
    audit.add_argument("--redis-url", required=True, help="the Redis holding the pool")
    audit.add_argument("--pool", required=True, help="pool name")
    audit.add_argument(
        "--naive", action="store_true", help="the pool was filled by the naive store"
    )
    audit.set_defaults(handler=cmd_audit)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return int(args.handler(args))
    except (UsageError, LobbyError) as exc:
        print(f"lobbysim: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one line, never a traceback (unless asked for)
        if os.environ.get("LOBBYSIM_DEBUG"):
            raise
        url = getattr(args, "redis_url", None)
        print(
            f"lobbysim: error: {type(exc).__name__}: {_one_line(exc, url)} "
            "(set LOBBYSIM_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return EXIT_USAGE
