"""lobbycore.connect refuses every malformed URL with one line of InvalidInput, no password.

No server is needed: each URL is refused before anything is sent. The well-formed ones
point at a free port, so a URL the checks wrongly let through fails with a connection
error (and never reaches the Redis on 6379).
"""

from __future__ import annotations

import pytest

from lobbycore import InvalidInput, check_redis_url, connect
from lobbysim.testing import free_port

PORT = free_port()


def stable_id(value: object) -> str:
    """A test id without the free port, which differs between pytest-xdist's workers."""
    return str(value).replace(str(PORT), "PORT")


SECRET = "hunter22"

# (url, what the one-line message must say)
MALFORMED = [
    (f"redis://:{SECRET}@127.0.0.1:abc/0", "port must be a number from 1 to 65535"),
    (f"redis://:{SECRET}@127.0.0.1:99999/0", "port must be a number from 1 to 65535"),
    (f"redis://:{SECRET}@127.0.0.1:-1/0", "port must be a number from 1 to 65535"),
    (f"redis://:{SECRET}@127.0.0.1:0/0", "port must be a number from 1 to 65535"),
    (f"redis://:{SECRET}", "port must be a number from 1 to 65535"),  # "@host" forgotten
    (f"http://:{SECRET}@127.0.0.1:{PORT}", "must start with redis://, rediss:// or unix://"),
    (f"REDIS://127.0.0.1:{PORT}", "must start with redis://, rediss:// or unix://"),
    (f"127.0.0.1:{PORT}", "must start with redis://, rediss:// or unix://"),
    ("", "must start with redis://, rediss:// or unix://"),
    (f"redis:/127.0.0.1:{PORT}", "must start with redis://, rediss:// or unix://"),
    (f"redis://:{SECRET}@:{PORT}/0", "names no host"),  # redis-py would use localhost
    ("redis:///0", "names no host"),
    (f"redis://127.0.0.1:{PORT}/abc", "database must be a whole number"),
    (f"redis://127.0.0.1:{PORT}/-1", "database must be a whole number"),
    (f"redis://127.0.0.1:{PORT}/1/2", "database must be a whole number"),  # redis-py: db 12
    (f"redis://127.0.0.1:{PORT}/0?db=x&password={SECRET}", "database must be a whole number"),
    (f"redis://127.0.0.1:{PORT}/0?foo=bar", "unknown query parameter 'foo'"),
    (f"redis://127.0.0.1:{PORT}/0?socket_timeout=x&password={SECRET}", "socket_timeout"),
    (f"redis://:{SECRET}#1@127.0.0.1:{PORT}/0", "must be percent-encoded"),
    (f"redis://:{SECRET}/1@127.0.0.1:{PORT}/0", "must be percent-encoded"),
    (f"redis://:{SECRET}?1@127.0.0.1:{PORT}/0", "must be percent-encoded"),
    (f"redis://:{SECRET}[1@127.0.0.1:{PORT}/0", "must be percent-encoded"),
    (f"redis://127.0.0.1:{PORT}/0?password={SECRET}&x", "query must be key=value"),
    (f"redis://ho st:{PORT}/0", "neither a host name nor an [IPv6] address"),
    (f"unix://:{SECRET}@sock", "names a socket path"),
    ("unix://", "names a socket path"),
]


@pytest.mark.parametrize(("url", "says"), MALFORMED, ids=stable_id)
def test_malformed_url_is_one_line_of_invalid_input(url: str, says: str) -> None:
    for check in (connect, check_redis_url):
        with pytest.raises(InvalidInput) as info:
            check(url)
        message = str(info.value)
        assert says in message, message
        assert "\n" not in message and SECRET not in message and "hunter" not in message


def test_a_url_that_is_not_text_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="must be text, got int"):
        connect(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url",
    [
        f"redis://127.0.0.1:{PORT}/0",
        f"redis://127.0.0.1:{PORT}",
        f"redis://user:{SECRET}@127.0.0.1:{PORT}/3",
        f"redis://:p%23ss%2Fw%3Fd@127.0.0.1:{PORT}/0",  # reserved characters, encoded
        f"redis://:p@ss:w@127.0.0.1:{PORT}/0",  # "@" and ":" need no encoding
        f"redis://[::1]:{PORT}/0",
        f"rediss://127.0.0.1:{PORT}/0?ssl_cert_reqs=none",
        f"redis://127.0.0.1:{PORT}?db=2&password={SECRET};socket_timeout=1.5",
        "unix:///run/redis.sock?db=0",
        f"unix://:{SECRET}@/run/redis.sock",
    ],
    ids=stable_id,
)
def test_well_formed_urls_pass_the_check(url: str) -> None:
    assert check_redis_url(url).redacted().count(SECRET) == 0


@pytest.mark.parametrize(
    ("url", "line"),
    [
        # No secret in it: shown as given, although it cannot be read.
        (
            "redis://h:notaport/0",
            "bad Redis URL 'redis://h:***/0': the port must be a number from 1 to 65535",
        ),
        # A misspelt parameter is named; its value (a password, most likely) is not shown.
        (
            f"redis://127.0.0.1:{PORT}/0?pasword={SECRET}",
            f"bad Redis URL 'redis://127.0.0.1:{PORT}/0?pasword=***': "
            "unknown query parameter 'pasword'",
        ),
        (
            f"redis://127.0.0.1:{PORT}/0?socket_timeout={SECRET}",
            f"bad Redis URL 'redis://127.0.0.1:{PORT}/0?socket_timeout=***': "
            "the value of 'socket_timeout' is not valid",
        ),
        # Where a password may sit in an unreadable URL, it is not shown.
        (
            f"redis://default:{SECRET}",
            "bad Redis URL '<unparsable url>': the port must be a number from 1 to 65535",
        ),
    ],
    ids=stable_id,
)
def test_the_message_shows_the_url_as_far_as_no_secret_shows(url: str, line: str) -> None:
    for check in (connect, check_redis_url):
        with pytest.raises(InvalidInput) as info:
            check(url)
        assert str(info.value) == line
