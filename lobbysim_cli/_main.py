"""Entry point of ``lobbysim``. Errors are one line on stderr and exit status 2."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from lobbycore import LobbyError, redact_url
from simulator.clients import RedisClients

EXIT_VIOLATIONS = 1
EXIT_USAGE = 2


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


def _clients(url: str | None) -> RedisClients:
    """Clients for a URL, or an embedded fakeredis; a one-line UsageError if unreachable."""
    from simulator.clients import ConnectError, open_clients

    try:
        return open_clients(url)
    except ConnectError as exc:
        raise UsageError(str(exc)) from None


def _one_line(exc: BaseException, url: str | None = None) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text.replace(url, redact_url(url)) if url else text


def cmd_race(args: argparse.Namespace) -> int:
    from ._race import race, render

    clients = _clients(args.redis_url)
    async_client, sync_client, where = clients.async_client, clients.sync_client, clients.where
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


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


SHARDS_HELP = "the pool's shard count, as given to LobbyStore(shards=N) (default 1)"


def _shards(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 1024:
        raise argparse.ArgumentTypeError(f"must be a whole number in 1..1024, got {text!r}")
    return value


def _sim_config(args: argparse.Namespace, pool: str) -> Any:
    from simulator import SimConfig

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
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _summary_line(summary: dict[str, str]) -> str:
    return " ".join(f"{key}={value}" for key, value in summary.items())


def cmd_demo(args: argparse.Namespace) -> int:
    from lobbycore import InvalidInput
    from lobbycore.audit import delete_pool
    from simulator import Simulation

    url = args.redis_url or os.environ.get("REDIS_URL") or None
    pool = args.pool or ("demo" if url is None else f"demo-{uuid.uuid4().hex[:8]}")
    config = _sim_config(args, pool)
    if args.duration is not None and not args.duration > 0:
        raise UsageError(f"--duration must be > 0 seconds, got {args.duration}")
    if args.headless and args.duration is None:
        args.duration = 10.0
    clients = _clients(url)
    sync_client = clients.sync_client
    try:
        simulation = Simulation(clients, config)
    except InvalidInput as exc:
        raise UsageError(str(exc)) from None
    try:
        if args.headless:
            asyncio.run(simulation.run(args.duration))
            print(_summary_line(simulation.summary()))
            return EXIT_VIOLATIONS if simulation.auditor.violations else 0
        from simulator.app import LobbySimApp

        LobbySimApp(simulation).run()
        return 0
    finally:
        if url is not None and not args.keep:
            for naive in (False, True):
                delete_pool(sync_client, pool, naive=naive)


def cmd_watch(args: argparse.Namespace) -> int:
    from lobbycore import InvalidInput
    from simulator import PoolFollower

    url = args.redis_url or os.environ.get("REDIS_URL")
    if not url:
        raise UsageError("watch needs --redis-url (or REDIS_URL): the Redis that holds the pool")
    try:
        follower = PoolFollower(_clients(url), args.pool, shards=args.shards)
    except InvalidInput as exc:
        raise UsageError(str(exc)) from None
    if args.headless:
        asyncio.run(follower.run(args.duration or 10.0))
        summary = {
            "pool": args.pool,
            "joins": str(follower.metrics.joins.total),
            "leaves": str(follower.metrics.leaves.total),
            "bookings": str(follower.metrics.bookings.total),
            "lobbies": str(len(follower.board.cards)),
            "violations": str(follower.auditor.violations),
        }
        print(_summary_line(summary))
        return EXIT_VIOLATIONS if follower.auditor.violations else 0
    from simulator.app import LobbySimApp

    LobbySimApp(follower).run()
    return 0


def _csv_list(kind: type, text: str, choices: tuple[str, ...] = ()) -> list[Any]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise UsageError(f"expected a comma-separated list, got {text!r}")
    try:
        values = [kind(item) for item in items]
    except ValueError:
        raise UsageError(
            f"expected a comma-separated list of {kind.__name__}, got {text!r}"
        ) from None
    if choices and any(v not in choices for v in values):
        raise UsageError(f"expected values among {', '.join(choices)}, got {text!r}")
    return values


def cmd_capacity(args: argparse.Namespace) -> int:
    from ._capacity import Plan, command_line, knee, rates_between, run_capacity

    url = args.redis_url or os.environ.get("REDIS_URL")
    if not url:
        raise UsageError("capacity needs --redis-url (or REDIS_URL): the Redis to measure")
    if args.quick:
        args.steps, args.step_seconds, args.users = 3, 3.0, 20
        args.start_rate, args.max_rate = 500.0, 4000.0
    max_users = _csv_list(int, args.max_users)
    if any(not 1 <= m <= 1000 for m in max_users):
        raise UsageError(f"--max-users values must be in 1..1000, got {args.max_users!r}")
    shards = _csv_list(int, args.shards)
    if any(not 1 <= n <= 1024 for n in shards):
        raise UsageError(f"--shards values must be in 1..1024, got {args.shards!r}")
    checks = [
        (args.steps >= 1, f"--steps must be >= 1, got {args.steps}"),
        (
            0 < args.step_seconds <= 3600,
            f"--step-seconds must be in (0, 3600], got {args.step_seconds}",
        ),
        (
            0 < args.start_rate <= args.max_rate <= 1_000_000,
            "--start-rate and --max-rate must satisfy 0 < start <= max <= 1000000",
        ),
        (1 <= args.users <= 10_000, f"--users must be in 1..10000, got {args.users}"),
        (1 <= args.processes <= 64, f"--processes must be in 1..64, got {args.processes}"),
        (args.slo_ms > 0 and args.peak > 0, "--slo-ms and --peak must be > 0"),
    ]
    for ok, message in checks:
        if not ok:
            raise UsageError(message)
    plan = Plan(
        redis_url=url,
        out=Path(args.out),
        max_users=max_users,
        strategies=_csv_list(str, args.strategy, ("atomic", "naive")),
        shards=shards,
        rates=[float(r) for r in rates_between(args.start_rate, args.max_rate, args.steps)],
        step_seconds=args.step_seconds,
        users=args.users,
        processes=args.processes,
        slo_ms=args.slo_ms,
        peak=args.peak,
    )
    _clients(url)  # fail fast, in one line, if the server cannot be reached
    steps, out = run_capacity(plan, command_line(args.argv))
    for config in plan.configs:
        best = knee([s for s in steps if s.config == config], plan.slo_ms)
        where = f"{best.achieved:,.0f} joins/s" if best else "none met the SLO"
        print(
            f"strategy={config.strategy} max_users={config.max_users} shards={config.shards} "
            f"knee={where}"
        )
    print(f"wrote {out / 'capacity.csv'}, {out / 'report.md'}, {out / 'capacity.png'}")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from lobbycore.audit import check, snapshot

    sync_client = _clients(args.redis_url).sync_client
    if args.shards > 1 and args.naive:
        raise UsageError("--shards applies to lobbycore pools, not --naive ones")
    report = check(snapshot(sync_client, args.pool, naive=args.naive, shards=args.shards))
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

    demo = commands.add_parser(
        "demo",
        help="the live dashboard: simulated buyers join lobbies, lobbies fill and get booked",
        description=(
            "Simulated ticket buyers arrive, join lobbies through lobbycore, wait, leave when "
            "impatient, and a lobby is booked as soon as it is full. Runs on an embedded "
            "in-process Redis unless --redis-url (or REDIS_URL) names one. Keys: space pause, "
            "+/- arrival rate, s atomic/naive, b book full lobbies, r reset, q quit. "
            "--headless prints one key=value summary line and exits 1 if a guarantee broke."
        ),
    )
    demo.add_argument(
        "--redis-url", help="run against this Redis (default: REDIS_URL, else embedded)"
    )
    demo.add_argument(
        "--pool", help="pool name (default: demo, or a fresh demo-<random> on a real Redis)"
    )
    demo.add_argument(
        "--strategy",
        choices=["atomic", "naive"],
        default="atomic",
        help="lobbycore, or the article's algorithm",
    )
    demo.add_argument(
        "--rate", type=_float, default=25.0, help="buyer arrivals per second (default 25)"
    )
    demo.add_argument("--max-users", type=int, default=4, help="lobby size (default 4)")
    demo.add_argument(
        "--party-share",
        type=_float,
        default=0.1,
        help="share of arrivals that are parties of 2-3 (default 0.1)",
    )
    demo.add_argument(
        "--patience",
        type=_float,
        default=8.0,
        help="mean seconds a buyer waits before leaving (default 8)",
    )
    demo.add_argument(
        "--book-after",
        type=_float,
        default=None,
        help="also book lobbies not yet full after this many seconds",
    )
    demo.add_argument("--seats", type=int, default=None, help="seat inventory (default unlimited)")
    demo.add_argument("--seed", type=int, default=None, help="random seed, for a reproducible run")
    demo.add_argument(
        "--lobby-ttl",
        type=_float,
        default=60.0,
        help="seconds before an unbooked lobby expires (default 60)",
    )
    demo.add_argument(
        "--headless", action="store_true", help="no screen: run, print a summary line, exit"
    )
    demo.add_argument(
        "--duration", type=_float, default=None, help="seconds to run headless (default 10)"
    )
    demo.add_argument(
        "--keep",
        action="store_true",
        help="keep the pool's keys on a real Redis (default: delete them)",
    )
    demo.set_defaults(handler=cmd_demo)

    watch = commands.add_parser(
        "watch",
        help="the same dashboard following a pool that another process (Locust) is loading",
        description="Follow a pool through lobbycore's event stream; read-only.",
    )
    watch.add_argument("--redis-url", help="the Redis holding the pool (default: REDIS_URL)")
    watch.add_argument("--pool", required=True, help="pool name")
    watch.add_argument(
        "--headless", action="store_true", help="no screen: follow, print a summary line, exit"
    )
    watch.add_argument(
        "--duration", type=_float, default=None, help="seconds to follow headless (default 10)"
    )
    watch.add_argument("--shards", type=_shards, default=1, help=SHARDS_HELP)
    watch.set_defaults(handler=cmd_watch)

    capacity = commands.add_parser(
        "capacity",
        help="sweep load on a Redis, find the saturation knee, recommend a number of primaries",
        description=(
            "Runs the open-model Locust scenario OpenJoins at increasing offered rates (each "
            "step a real Locust run on a fresh pool), and writes DIR/capacity.csv, "
            "DIR/report.md (table, knee: highest achieved rate with p99 <= --slo-ms, and how "
            "many primaries --peak needs) and DIR/capacity.png."
        ),
    )
    capacity.add_argument("--redis-url", help="the Redis to measure (default: REDIS_URL)")
    capacity.add_argument(
        "--out", required=True, help="folder for capacity.csv, report.md, capacity.png"
    )
    capacity.add_argument(
        "--max-users", default="4", help="lobby sizes, comma-separated (default 4)"
    )
    capacity.add_argument(
        "--strategy", default="atomic", help="atomic, naive or both: atomic,naive (default atomic)"
    )
    capacity.add_argument(
        "--shards",
        default="1",
        help="shard counts to compare, comma-separated, e.g. 1,3 (atomic only; default 1): "
        "the report adds throughput against shard count; point --redis-url at a cluster to "
        "spread the sub-pools over its primaries",
    )
    capacity.add_argument(
        "--steps", type=int, default=5, help="load steps per configuration (default 5)"
    )
    capacity.add_argument(
        "--step-seconds", type=_float, default=10.0, help="seconds per step (default 10)"
    )
    capacity.add_argument(
        "--start-rate",
        type=_float,
        default=1000.0,
        help="first offered rate, joins/s (default 1000)",
    )
    capacity.add_argument(
        "--max-rate",
        type=_float,
        default=20000.0,
        help="last offered rate, joins/s (default 20000)",
    )
    capacity.add_argument(
        "--users", type=int, default=50, help="Locust users per step (default 50)"
    )
    capacity.add_argument(
        "--processes",
        type=int,
        default=1,
        help="Locust processes (default 1; >1 runs a master + workers)",
    )
    capacity.add_argument(
        "--slo-ms", type=_float, default=10.0, help="p99 objective in ms (default 10)"
    )
    capacity.add_argument(
        "--peak", type=_float, default=50000.0, help="expected peak joins/s (default 50000)"
    )
    capacity.add_argument(
        "--quick", action="store_true", help="a sub-minute sweep: 3 steps of 3 s, 500..4000 joins/s"
    )
    capacity.set_defaults(handler=cmd_capacity)

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
    audit.add_argument("--shards", type=_shards, default=1, help=SHARDS_HELP)
    audit.set_defaults(handler=cmd_audit)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv
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
