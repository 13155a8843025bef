"""A server that wants a password says so in one line, in plain words, whatever redis-py's
wording (RESP2's ``NOAUTH``, RESP3's ``HELLO must be called with the client already
authenticated…``, ``WRONGPASS``): no password given, a wrong one, one the server does not
want. Real redis-server processes; both protocols."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from lobbycore import connect
from lobbysim.testing import RedisServer
from tests.cli import lobbysim

LOCUSTFILE = str(Path(__file__).resolve().parents[2] / "locustfiles" / "lobby.py")

SECRET = "s3cr3t-pw"
WRONG = "wr0ng-pw"
PROTOCOLS = ["", "?protocol=2", "?protocol=3"]
"""redis-py's default (RESP3 in redis-py 8: HELLO first), then each one named."""


@pytest.fixture(scope="module")
def guarded() -> Iterator[RedisServer]:
    with RedisServer() as server:
        server.client().config_set("requirepass", SECRET)
        yield server


@pytest.fixture(scope="module")
def open_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


def one_error_line(*args: str) -> str:
    result = lobbysim(*args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and SECRET not in result.stderr
    assert WRONG not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("query", PROTOCOLS)
@pytest.mark.parametrize("command", [["audit", "--pool", "p"], ["race", "--users", "4"]])
def test_no_password_given_says_one_is_needed(
    guarded: RedisServer, query: str, command: list[str]
) -> None:
    url = f"redis://127.0.0.1:{guarded.port}/0{query}"
    shown = url.replace("=2", "=***").replace("=3", "=***")
    assert one_error_line(*command, "--redis-url", url) == (
        f"lobbysim: error: cannot use Redis at {shown}: "
        "the server needs a password (none was given)"
    )


@pytest.mark.parametrize("query", PROTOCOLS)
def test_a_wrong_password_says_it_was_refused(guarded: RedisServer, query: str) -> None:
    url = f"redis://:{WRONG}@127.0.0.1:{guarded.port}/0{query}"
    line = one_error_line("audit", "--pool", "p", "--redis-url", url)
    assert line.startswith("lobbysim: error: cannot use Redis at redis://:***@127.0.0.1:")
    assert line.endswith(": the password was refused")
    # The same with a username (ACL): the user may be the wrong part.
    url = f"redis://bob:{WRONG}@127.0.0.1:{guarded.port}/0{query}"
    line = one_error_line("audit", "--pool", "p", "--redis-url", url)
    assert line.endswith(": the password was refused (or user 'bob' is unknown or disabled)")


def test_a_password_in_the_query_counts_as_given(guarded: RedisServer) -> None:
    url = f"redis://127.0.0.1:{guarded.port}/0?password={WRONG}"
    line = one_error_line("audit", "--pool", "p", "--redis-url", url)
    assert line.endswith("?password=***: the password was refused")


def test_the_right_password_is_used(guarded: RedisServer, pool_name: str) -> None:
    for query in PROTOCOLS:
        url = f"redis://:{SECRET}@127.0.0.1:{guarded.port}/0{query}"
        result = lobbysim("audit", "--pool", pool_name, "--redis-url", url)
        assert result.returncode == 4, result.stderr  # reached the server: no such pool


def test_a_password_the_server_does_not_want(open_server: RedisServer) -> None:
    # RESP2 sends AUTH, which such a server refuses (RESP3's HELLO … AUTH default is accepted).
    url = f"redis://:{WRONG}@127.0.0.1:{open_server.port}/0?protocol=2"
    line = one_error_line("audit", "--pool", "p", "--redis-url", url)
    assert line.endswith(": the server has no password set, but the URL gives one")


@pytest.mark.parametrize("query", PROTOCOLS)
def test_the_library_raises_the_same_words(guarded: RedisServer, query: str) -> None:
    url = f"redis://127.0.0.1:{guarded.port}/0{query}"
    with pytest.raises(redis.AuthenticationError) as caught:
        connect(url)
    assert str(caught.value).startswith("the server needs a password (none was given) (at ")


@pytest.mark.parametrize(
    ("userinfo", "why"),
    [
        ("", "the server needs a password (none was given)"),
        (f":{WRONG}@", "the password was refused"),
    ],
)
def test_locust_says_the_same_words(guarded: RedisServer, userinfo: str, why: str) -> None:
    url = f"redis://{userinfo}127.0.0.1:{guarded.port}/0"
    result = subprocess.run(
        [sys.executable, "-m", "locust", "-f", LOCUSTFILE, "--headless", "-u", "1", "-r", "1",
         "-t", "2s", "--redis-url", url],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    errors = [line for line in result.stderr.splitlines() if line.startswith("lobbysim: error:")]
    shown = url.replace(WRONG, "***")
    assert errors == [f"lobbysim: error: cannot use Redis at {shown}: {why}"], result.stderr
    assert result.returncode == 2 and WRONG not in result.stderr
