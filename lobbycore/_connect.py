"""``connect(url)``: the one way the project builds a Redis client from a URL."""

from __future__ import annotations

import inspect
import ssl
import warnings
from functools import cache
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
import redis.connection
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

from ._errors import InsecureTLS, InvalidInput
from ._urls import MalformedUrl, UrlParts, parse_url, redact_text, redact_url
from .defaults import CONNECT_TIMEOUT, SOCKET_TIMEOUT

SCHEMES = ("redis", "rediss", "unix")
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
    parts = check_redis_url(url)
    if _unchecked_certificate(parts, extra):
        warnings.warn(
            InsecureTLS(
                f"TLS to {redact_url(url)} does not check the server's certificate "
                "(ssl_cert_reqs=none): use it only with a test server"
            ),
            stacklevel=2,
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
    except ValueError as exc:  # a query value redis-py cannot read, e.g. ?socket_timeout=x
        raise InvalidInput(f"bad Redis URL {redact_url(url)!r}: {_one_line(exc, url)}") from None
    except redis.RedisError as exc:
        raise type(exc)(f"{connection_problem(exc, url)}{_at(url)}") from None


def _unchecked_certificate(parts: UrlParts, extra: dict[str, Any]) -> bool:
    """Whether a rediss:// connection would skip the certificate check (``ssl_cert_reqs``
    none, in the URL or as a keyword)."""
    if parts.scheme != "rediss":
        return False
    given: Any = dict(parts.query_params()).get("ssl_cert_reqs", "required")
    given = extra.get("ssl_cert_reqs", unquote(str(given)))
    return given is None or given == ssl.CERT_NONE or str(given).lower() == "none"


def _one_line(exc: BaseException, url: str) -> str:
    return redact_text(" ".join(str(exc).split()), url)


def _at(url: str) -> str:
    return f" (at {redact_url(url)})"


def _credentials(url: str) -> tuple[str | None, str | None]:
    """The username and password the URL gives (userinfo or query), as redis-py reads them."""
    try:
        parts = parse_url(url)
    except MalformedUrl:
        return None, None
    username, password = parts.username or None, parts.password or None
    for key, value in parts.query_params():
        if key == "username" and value:
            username = unquote(value)
        elif key == "password" and value:
            password = unquote(value)
    return username, password


def connection_problem(exc: BaseException, url: str) -> str:
    """Why ``url`` could not be used, in one line without a secret.

    A refused login says so in plain words, whatever redis-py's wording (RESP2's ``NOAUTH
    Authentication required``, RESP3's ``HELLO must be called with the client already
    authenticated…``, ``WRONGPASS …``); any other error is its own message. The ``(at URL)``
    that :func:`connect` appends is left out: the callers name the URL first.
    """
    text = _one_line(exc, url)
    if text.endswith(_at(url)):  # connect's own message, already in these words
        return text.removesuffix(_at(url))
    if isinstance(exc, redis.AuthenticationError):
        username, password = _credentials(url)
        if "without any password configured" in text:
            return "the server has no password set, but the URL gives one"
        if password is None:
            return "the server needs a password (none was given)"
        if username is not None:
            return f"the password was refused (or user {username!r} is unknown or disabled)"
        return "the password was refused"
    return text


def unusable(exc: BaseException, url: str) -> str:
    """The one line that says ``url`` cannot be used: a malformed URL's own message (which
    names it), else ``cannot use Redis at URL: why`` (see :func:`connection_problem`)."""
    if isinstance(exc, InvalidInput):
        return _one_line(exc, url)
    return f"cannot use Redis at {redact_url(url)}: {connection_problem(exc, url)}"


@cache
def _url_options() -> frozenset[str]:
    """The query parameters redis-py accepts: its URL parsers' and its connections' own
    keyword arguments (any other name fails later, at the first connection, with a TypeError)."""
    names = set(redis.connection.URL_QUERY_ARGUMENT_PARSERS) | {"username", "password"}
    kinds = (
        redis.connection.Connection,
        redis.connection.SSLConnection,
        redis.connection.UnixDomainSocketConnection,
    )
    for kind in kinds:
        for cls in kind.__mro__:
            if "__init__" in vars(cls):
                for name, param in inspect.signature(vars(cls)["__init__"]).parameters.items():
                    if param.kind in (param.KEYWORD_ONLY, param.POSITIONAL_OR_KEYWORD):
                        names.add(name)
    return frozenset(names - {"self"})


def _bad(url: str, problem: str) -> InvalidInput:
    return InvalidInput(f"bad Redis URL {redact_url(url)!r}: {problem}")


def _database_number(text: str) -> bool:
    # Redis's SELECT takes a 32-bit signed index: a longer number is refused there anyway.
    return text.isascii() and text.isdigit() and int(text) < 2**31


def check_redis_url(url: object) -> UrlParts:
    """The parts of a Redis URL that redis-py would read as the user meant; InvalidInput (one
    line, no password) otherwise. Nothing is sent anywhere.

    Refused: a scheme other than redis://, rediss:// and unix://; a port that is not 1-65535;
    a redis:// URL without a host (redis-py would quietly use localhost:6379); a database
    that is not a whole number; a password with an unencoded "/", "?", "#", "[" or "]"
    (redis-py would split the URL elsewhere); a query parameter redis-py does not know.
    """
    if not isinstance(url, str):
        raise InvalidInput(f"the Redis URL must be text, got {type(url).__name__}")
    scheme, sep, _ = url.partition("://")
    if not sep or scheme not in SCHEMES:
        raise InvalidInput(
            f"Redis URL must start with redis://, rediss:// or unix://, got {redact_url(url)!r}"
        )
    try:
        parts = parse_url(url)
    except MalformedUrl as exc:
        raise _bad(url, str(exc)) from None
    try:
        netloc = urlsplit(url).netloc
        standard_userinfo = netloc.rpartition("@")[0] if "@" in netloc else None
    except ValueError:  # an unmatched "[" or "]"
        standard_userinfo = ""
    if standard_userinfo != parts.userinfo:  # the standard split would cut the password
        raise _bad(
            url,
            "the password holds a character that must be percent-encoded "
            "(/ as %2F, ? as %3F, # as %23, [ as %5B, ] as %5D)",
        )
    if parts.scheme == "unix":
        if parts.host or not parts.path.startswith("/"):
            raise _bad(url, "a unix:// URL names a socket path, as in unix:///run/redis.sock")
    else:
        if not parts.host:
            raise _bad(url, "it names no host, as in redis://127.0.0.1:6379/0")
        if parts.path not in ("", "/") and not _database_number(parts.path[1:]):
            raise _bad(url, "the database must be a whole number, as in redis://host:6379/0")
    for key, value in parts.query_params():
        if key not in _url_options():
            raise _bad(url, f"unknown query parameter {key!r}")
        if key == "db" and not _database_number(value):
            raise _bad(url, "the database must be a whole number, as in ?db=0")
        parse = redis.connection.URL_QUERY_ARGUMENT_PARSERS.get(key)
        try:
            if callable(parse):
                parse(unquote(value))
        except (TypeError, ValueError):
            # Named, never quoted: no query value is ever shown.
            raise _bad(url, f"the value of {key!r} is not valid") from None
    return parts
