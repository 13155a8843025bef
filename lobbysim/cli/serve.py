"""``lobbysim serve``: lobbycore behind an HTTP API (FastAPI on uvicorn), docs at /docs."""

from __future__ import annotations

import argparse
import os
import socket
from typing import TYPE_CHECKING

from lobbycore.defaults import DEFAULT_POOL
from lobbysim.run.options import RunOptions, add_to_argparse
from lobbysim.run.redis import open_clients, redis_url, url_help

from ._common import (
    UsageError,
    add_redis_url,
    int_in,
    positive_int,
    require_extra,
)

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ._common import Commands

NAME = "serve"
ENV_REDIS_URL = "LOBBYSIM_SERVE_REDIS_URL"
ENV_STRATEGY = "LOBBYSIM_SERVE_STRATEGY"
ENV_POOL = "LOBBYSIM_SERVE_POOL"
ENV_TTL = "LOBBYSIM_SERVE_LOBBY_TTL"
ENV_WAIT_REPLICAS = "LOBBYSIM_SERVE_WAIT_REPLICAS"
ENV_WAIT_TIMEOUT = "LOBBYSIM_SERVE_WAIT_TIMEOUT"
ENV_CLUSTER = "LOBBYSIM_SERVE_CLUSTER"
"""How ``lobbysim serve`` configures its uvicorn worker processes (see :func:`app_from_env`);
ENV_CLUSTER carries the parent's probe ("1" a cluster, "0" not), so no worker asks again."""
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
        url_help("the Redis to serve", "an embedded one, with --workers 1 only"),
    )
    add_to_argparse(
        serve,
        ["strategy", "pool", "lobby_ttl", "seats", "wait_replicas", "wait_timeout"],
        default={"pool": DEFAULT_POOL},
        help={
            "pool": f"pool name (default {DEFAULT_POOL})",
            "seats": "set the pool's seat inventory at start (default: leave it as it is)",
        },
    )
    serve.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    require_extra(NAME, "serve")
    import uvicorn

    from lobbycore import check_naive_supported, store_for
    from lobbysim.serve import create_app, store_opener

    run_options = RunOptions.from_namespace(args)  # the rules between options, as everywhere
    replicas, timeout = run_options.wait_replicas, run_options.wait_timeout
    url = redis_url(args.redis_url)
    if url is None:
        if args.workers > 1:
            raise UsageError(
                "--workers above 1 needs --redis-url (an embedded Redis is per process)"
            )
        require_extra(NAME, "embedded")
    # One probe, one connection before the first request: the workers (if any) open their
    # own asyncio clients with this probe's answer.
    clients = open_clients(url, async_=args.workers == 1)
    sync_client, where = clients.sync, clients.where
    _check_can_listen(args.host, args.port)
    # Bad options and a server the strategy cannot use fail here, in one line, not per request.
    store = store_for(
        sync_client,
        args.strategy,
        pool=args.pool,
        lobby_ttl=args.lobby_ttl,
        wait_replicas=replicas,
        wait_timeout=timeout,
    )
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
        opener = store_opener(
            clients.async_,
            args.strategy,
            args.pool,
            args.lobby_ttl,
            wait_replicas=replicas,
            wait_timeout=timeout,
        )
        uvicorn.run(create_app(opener), **options)
        return 0
    assert url is not None
    os.environ.update(
        {
            ENV_REDIS_URL: url,
            ENV_STRATEGY: args.strategy,
            ENV_POOL: args.pool,
            ENV_TTL: str(args.lobby_ttl),
            ENV_CLUSTER: "1" if clients.cluster else "0",
            ENV_WAIT_REPLICAS: str(replicas),
            ENV_WAIT_TIMEOUT: str(timeout),
        }
    )
    uvicorn.run(
        f"{app_from_env.__module__}:{app_from_env.__name__}",
        factory=True,
        workers=args.workers,
        **options,
    )
    return 0


def app_from_env() -> FastAPI:
    """The application as each uvicorn worker process builds it (``--workers N``): the URL
    was checked, and the server probed, by the parent process."""
    from lobbysim.serve import create_app, store_opener

    ttl = os.environ[ENV_TTL]
    clients = open_clients(
        os.environ[ENV_REDIS_URL],
        sync=False,
        async_=True,
        cluster=os.environ[ENV_CLUSTER] == "1",
    )
    return create_app(
        store_opener(
            clients.async_,
            os.environ[ENV_STRATEGY],
            os.environ[ENV_POOL],
            None if ttl == "None" else float(ttl),
            wait_replicas=int(os.environ[ENV_WAIT_REPLICAS]),
            wait_timeout=float(os.environ[ENV_WAIT_TIMEOUT]),
        )
    )


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
