"""``lobbysim serve``: lobbycore behind an HTTP API (FastAPI on uvicorn), docs at /docs."""

from __future__ import annotations

import argparse
import os
import socket
from typing import TYPE_CHECKING

from lobbycore import STRATEGIES
from lobbycore.defaults import DEFAULT_LOBBY_TTL, DEFAULT_POOL, MAX_SEATS, MAX_TTL_SECONDS

from ._common import (
    UsageError,
    add_redis_url,
    choice_of,
    float_in,
    int_in,
    positive_int,
    require_extra,
    url_or_env,
)
from ._redis import open_embedded, open_sync

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from lobbycore import AsyncStore

    from ._common import Commands

NAME = "serve"
DEFAULT_PORT = 8000
port_number = int_in(1, 65535)


def add_parser(commands: Commands) -> None:
    serve = commands.add_parser(
        NAME,
        help="serve a pool over HTTP (FastAPI; OpenAPI docs at /docs)",
        description=(
            "Serve lobbycore as an HTTP API in the article's shape: join, party join, leave, "
            "book (Idempotency-Key header), get a lobby, a user's lobby, stats, health. "
            "--strategy naive serves the article's algorithm through the same routes."
        ),
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default %(default)s)"
    )
    serve.add_argument(
        "--port", type=port_number, default=DEFAULT_PORT, help="port (default %(default)s)"
    )
    serve.add_argument(
        "--workers", type=positive_int, default=1, help="uvicorn worker processes (default 1)"
    )
    add_redis_url(
        serve,
        "the Redis to serve (default: REDIS_URL, else an embedded one, with --workers 1 only)",
    )
    serve.add_argument(
        "--strategy",
        type=choice_of(STRATEGIES),
        default="atomic",
        help=f"{' or '.join(STRATEGIES)} (default atomic; naive is the article's, unsafe)",
    )
    serve.add_argument("--pool", default=DEFAULT_POOL, help="pool name (default %(default)s)")
    serve.add_argument(
        "--lobby-ttl",
        type=float_in(0.0, MAX_TTL_SECONDS),
        default=DEFAULT_LOBBY_TTL,
        help="seconds an unbooked lobby lives (default %(default)g; the naive store ignores it)",
    )
    serve.add_argument(
        "--seats",
        type=int_in(0, MAX_SEATS),
        help="set the pool's seat inventory at start (default: leave it as it is)",
    )
    serve.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    require_extra(NAME, "serve")
    import uvicorn

    from lobbycore import async_store_for, check_naive_supported, redact_url, store_for
    from lobbysim.serve import (
        ENV_POOL,
        ENV_REDIS_URL,
        ENV_STRATEGY,
        ENV_TTL,
        app_from_env,
        create_app,
    )
    from lobbysim.serve.app import store_opener

    url = url_or_env(args.redis_url)
    if url is None:
        if args.workers > 1:
            raise UsageError(
                "--workers above 1 needs --redis-url (an embedded Redis is per process)"
            )
        require_extra(NAME, "embedded")
        clients = open_embedded()
        sync_client = clients.sync_client

        async def open_embedded_store() -> AsyncStore:
            return async_store_for(
                clients.async_client, args.strategy, pool=args.pool, lobby_ttl=args.lobby_ttl
            )

        opener: Callable[[], Awaitable[AsyncStore]] = open_embedded_store
        where = clients.where
    else:
        sync_client = open_sync(url)
        opener = store_opener(url, args.strategy, args.pool, args.lobby_ttl)
        where = f"Redis at {redact_url(url)}"
    _check_can_listen(args.host, args.port)
    # Bad options and a server the strategy cannot use fail here, in one line, not per request.
    store = store_for(sync_client, args.strategy, pool=args.pool, lobby_ttl=args.lobby_ttl)
    if args.strategy == "naive":
        check_naive_supported(sync_client)
    if args.seats is not None:
        store.set_seats(args.seats)
    print(
        f"lobbysim serve: http://{args.host}:{args.port} (docs at /docs) pool={args.pool} "
        f"strategy={args.strategy} workers={args.workers} on {where}",
        flush=True,
    )
    options = {"host": args.host, "port": args.port, "access_log": False, "log_level": "warning"}
    if args.workers == 1:
        uvicorn.run(create_app(opener), **options)
        return 0
    assert url is not None
    os.environ.update(
        {
            ENV_REDIS_URL: url,
            ENV_STRATEGY: args.strategy,
            ENV_POOL: args.pool,
            ENV_TTL: str(args.lobby_ttl),
        }
    )
    uvicorn.run(
        f"{app_from_env.__module__}:{app_from_env.__name__}",
        factory=True,
        workers=args.workers,
        **options,
    )
    return 0


def _check_can_listen(host: str, port: int) -> None:
    """UsageError if the address is taken or not ours (uvicorn would log it and exit 1)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, kind, proto, _name, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
