"""Where a run's Redis is, and how its clients are opened: one rule for every front end.

The URL (:func:`redis_url`): ``--redis-url``, else the ``REDIS_URL`` environment variable,
checked by lobbycore before anything is sent. Every command that talks to Redis, and the
Locust scenarios, follow it; :data:`URL_HELP` says so in their ``--help``.

The clients (:func:`open_clients`): a sync client (a cluster client if the server is a
Redis Cluster node: asked once, by lobbycore.connect's probe, which also shows that the
server answers), and from that answer an asyncio client if asked for, with no second probe; without a URL, both of one new
embedded in-process Redis. Every client holds at most :data:`CONNECTIONS` connections.
A malformed URL is lobbycore's InvalidInput; one that is unreachable or refused is
:class:`RedisUnusable`: either is one line without a secret, in lobbycore's words.
"""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio

from lobbycore import (
    InsecureTLS,
    InvalidInput,
    LobbyError,
    check_redis_url,
    connect,
    redact_url,
    unusable,
)

__all__ = [
    "CONNECTIONS",
    "EMBEDDED",
    "LOCAL_URL",
    "REDIS_URL_ENV",
    "URL_HELP",
    "Clients",
    "RedisUnusable",
    "given_url",
    "open_clients",
    "redis_url",
    "required_redis_url",
    "url_help",
]

REDIS_URL_ENV = "REDIS_URL"
URL_HELP = f"default: the {REDIS_URL_ENV} environment variable"
"""The rule as every ``--help`` states it (see :func:`url_help`)."""
LOCAL_URL = "redis://127.0.0.1:6379/0"
"""Locust's URL when neither the flag nor REDIS_URL gives one (its documented default)."""
EMBEDDED = "embedded in-process Redis (fakeredis + Lua)"

CONNECTIONS = 256
"""The connections one client opens at most (per node, on a cluster). Calls beyond them wait
for a free one (a blocking pool) instead of failing, as redis-py's unsized pool does past
100; the cap keeps a process (a Locust process of per-call users, a busy ``serve``) from
opening one connection per concurrent caller."""


class RedisUnusable(LobbyError):
    """The Redis URL cannot be used (malformed, unreachable, refused): one line, no secret."""


def given_url(flag_value: str | None) -> str | None:
    """``--redis-url`` if given, else ``REDIS_URL`` if set and not empty, else None; unchecked
    (to mask its secrets in what is shown, whatever it holds)."""
    return flag_value or os.environ.get(REDIS_URL_ENV) or None


def redis_url(flag_value: str | None) -> str | None:
    """:func:`given_url`, checked (lobbycore's ``check_redis_url``): InvalidInput, in one
    line that shows no password or query value, if it is malformed. Nothing is sent."""
    url = given_url(flag_value)
    if url is not None:
        check_redis_url(url)
    return url


def required_redis_url(flag_value: str | None, command: str, what: str) -> str:
    """:func:`redis_url` for a command that cannot run without one (``what`` says why)."""
    url = redis_url(flag_value)
    if url is None:
        raise RedisUnusable(f"{command} needs --redis-url (or {REDIS_URL_ENV}): {what}")
    return url


def url_help(what: str, otherwise: str = "") -> str:
    """The ``--redis-url`` help: what the Redis is for, then the rule, then what is used when
    neither gives a URL (``otherwise``)."""
    return f"{what} ({URL_HELP}{f'; else {otherwise}' if otherwise else ''})"


@dataclass(frozen=True)
class Clients:
    """The clients of one Redis, each if asked for (None otherwise)."""

    sync: Any
    async_: Any
    where: str
    """What to show the user: the redacted URL, or that Redis is embedded."""
    url: str | None
    """None for an embedded Redis."""
    cluster: bool
    """Whether the server is a Redis Cluster node (the probe's answer, reusable: pass it to
    another :func:`open_clients` of the same URL, which then sends nothing to ask again)."""

    @property
    def embedded(self) -> bool:
        return self.url is None


def open_clients(
    url: str | None,
    *,
    sync: bool = True,
    async_: bool = False,
    connections: int = CONNECTIONS,
    cluster: bool | None = None,
) -> Clients:
    """Clients of the Redis at ``url`` (a sync one unless ``sync=False``, an asyncio one if
    ``async_``), or both of a new embedded Redis if ``url`` is None.

    ``cluster=None`` probes the server once (so it is known to answer); True or False is a
    probe's earlier answer, and nothing is sent. RedisUnusable, in one line, if the URL
    cannot be used."""
    if url is None:
        return _embedded(connections)
    # lobbycore warns of TLS without certificate checks: said once, in one line, by every
    # front end (a Python warning would print its source line too).
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always", InsecureTLS)
        clients = _open(url, sync, async_, connections, cluster)
    for message in dict.fromkeys(str(w.message) for w in warned if w.category is InsecureTLS):
        print(f"lobbysim: warning: {message}", file=sys.stderr)
    for other in (w for w in warned if w.category is not InsecureTLS):
        warnings.warn_explicit(other.message, other.category, other.filename, other.lineno)
    return clients


def _open(url: str, sync: bool, async_: bool, connections: int, cluster: bool | None) -> Clients:
    try:
        sync_client = None
        if sync or cluster is None:
            sync_client = connect(
                url, cluster=cluster, blocking_pool=True, max_connections=connections
            )
            cluster = not isinstance(sync_client, redis.Redis)
            if not sync:  # it was the probe
                sync_client.close()
                sync_client = None
        async_client = (
            connect(
                url,
                asyncio=True,
                cluster=cluster,
                blocking_pool=True,
                max_connections=connections,
            )
            if async_
            else None
        )
    except (InvalidInput, redis.RedisError) as exc:
        raise RedisUnusable(unusable(exc, url)) from None
    return Clients(sync_client, async_client, f"Redis at {redact_url(url)}", url, cluster)


def _embedded(connections: int) -> Clients:
    """Sync and asyncio clients of one new in-process Redis (needs the embedded extra)."""
    import fakeredis

    server = fakeredis.FakeServer()
    async_client = fakeredis.FakeAsyncRedis(
        server=server,
        connection_pool_class=redis.asyncio.BlockingConnectionPool,
        max_connections=connections,
    )
    return Clients(fakeredis.FakeRedis(server=server), async_client, EMBEDDED, None, False)
