"""``connect(url)``: the one way the project builds a Redis client from a URL."""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

from ._errors import InvalidInput
from ._urls import redact_url

SCHEMES = ("redis", "rediss", "unix")
CONNECT_TIMEOUT = 3.0
SOCKET_TIMEOUT = 5.0
RETRIES = 3


def _backoff() -> ExponentialWithJitterBackoff:
    # 50 ms doubling up to 1 s, with jitter so that many clients do not retry in step.
    return ExponentialWithJitterBackoff(base=0.05, cap=1.0)


def _options(is_async: bool, socket_timeout: float, connect_timeout: float) -> dict[str, Any]:
    # Every lobbycore script is safe to replay, so retrying a command after a lost
    # connection cannot double a join or a booking.
    retry = (AsyncRetry if is_async else Retry)(_backoff(), RETRIES)
    return {
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": connect_timeout,
        "retry": retry,
        "retry_on_error": [redis.ConnectionError, redis.TimeoutError],
    }


def _is_cluster(url: str, connect_timeout: float, extra: dict[str, Any]) -> bool:
    if url.startswith("unix:"):
        return False
    with redis.Redis.from_url(
        url, socket_connect_timeout=connect_timeout, socket_timeout=connect_timeout, **extra
    ) as probe:
        try:
            return str(probe.info("cluster").get("cluster_enabled", 0)) == "1"
        except redis.ResponseError:  # an ACL user without INFO (-@dangerous): a single node
            return False


def connect(
    url: str,
    *,
    asyncio: bool = False,
    cluster: bool | None = None,
    socket_timeout: float = SOCKET_TIMEOUT,
    connect_timeout: float = CONNECT_TIMEOUT,
    blocking_pool: bool = False,
    **extra: Any,
) -> Any:
    """A client for ``redis://``, ``rediss://`` (TLS) or ``unix://`` URLs, with explicit
    timeouts and retries with jittered exponential backoff.

    ``asyncio=True`` returns a ``redis.asyncio`` client. ``cluster=None`` asks the server
    (``INFO cluster``) whether it is a Redis Cluster node; True or False forces the kind.
    ``blocking_pool=True`` (single node) makes calls beyond ``max_connections`` wait for a
    connection instead of failing. ``extra`` goes to redis-py (e.g. ``decode_responses``,
    ``max_connections``, TLS options).
    Raises InvalidInput for a malformed URL and redis.ConnectionError if the server cannot be
    reached while probing; neither message contains the password.
    """
    if not isinstance(url, str) or url.split("://", 1)[0] not in SCHEMES or "://" not in url:
        raise InvalidInput(
            f"Redis URL must start with redis://, rediss:// or unix://, got {redact_url(str(url))!r}"
        )
    try:
        if cluster is None:
            cluster = _is_cluster(url, connect_timeout, extra)
        options = {**_options(asyncio, socket_timeout, connect_timeout), **extra}
        if cluster:
            options.pop("retry_on_error")  # RedisCluster retries through its own mechanism
            factory: Any = (
                redis.asyncio.cluster.RedisCluster if asyncio else redis.cluster.RedisCluster
            )
            return factory.from_url(url, **options)
        if blocking_pool:
            pool_type: Any = (
                redis.asyncio.BlockingConnectionPool if asyncio else redis.BlockingConnectionPool
            )
            client_type: Any = redis.asyncio.Redis if asyncio else redis.Redis
            return client_type(connection_pool=pool_type.from_url(url, **options))
        return (redis.asyncio.Redis if asyncio else redis.Redis).from_url(url, **options)
    except ValueError as exc:
        raise InvalidInput(f"bad Redis URL {redact_url(url)!r}: {exc}") from None
    except redis.RedisError as exc:
        message = " ".join(str(exc).split()).replace(url, redact_url(url))
        raise type(exc)(f"{message} (at {redact_url(url)})") from None
