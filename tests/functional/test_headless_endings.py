"""Headless ``demo`` and ``watch`` print their one summary line in every ending: their
duration, SIGINT (ctrl-c), SIGTERM, an error; ``ended=`` says which, and the exit status is
128 + the signal (unless a guarantee broke)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable

import pytest
import redis

from lobbycore import LobbyStore
from lobbycore.admin import count_pool_keys
from lobbysim.cli._common import EXIT_INTERRUPTED
from lobbysim.testing import RedisServer
from tests.functional.test_outages import broken_simulation

TIMEOUT = 60.0
"""Generous: only a hang fails a wait."""


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def headless(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "lobbysim.cli", *args, "--headless", "--duration", "600"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def summary(out: str) -> dict[str, str]:
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    return dict(part.split("=", 1) for part in lines[0].split())


def script_calls(client: redis.Redis) -> int:
    """Script calls the server has run (FCALL or EVALSHA, whichever the store uses)."""
    stats = client.info("commandstats")
    return sum(
        int(value["calls"])
        for name, value in stats.items()
        if name.startswith(("cmdstat_fcall", "cmdstat_evalsha"))
    )


SIGNALS = [(signal.SIGINT, "sigint"), (signal.SIGTERM, "sigterm")]


@pytest.mark.parametrize(("signum", "name"), SIGNALS)
def test_a_signal_ends_headless_demo_with_its_summary(
    redis_server: RedisServer, pool_name: str, signum: int, name: str
) -> None:
    run = headless("demo", "--redis-url", redis_server.url, "--pool", pool_name)
    client = redis_server.client()
    wait_until(lambda: count_pool_keys(client, pool_name) > 0)  # running: buyers joined
    run.send_signal(signum)
    out, err = run.communicate(timeout=120)
    assert err == "", err
    assert run.returncode == (EXIT_INTERRUPTED if signum == signal.SIGINT else 128 + signum), out
    values = summary(out)
    assert values["ended"] == name and int(values["joins"]) > 0, values
    assert values["violations"] == "0" and values["pools_lost"] == "0", values
    assert count_pool_keys(client, pool_name) == 0  # the run's pool deleted all the same


@pytest.mark.parametrize(("signum", "name"), SIGNALS)
def test_a_signal_ends_headless_watch_with_its_summary(
    redis_server: RedisServer, pool_name: str, signum: int, name: str
) -> None:
    client = redis_server.client()
    LobbyStore(client, pool=pool_name).find_or_create_lobby("early", 2)
    calls = script_calls(client)
    run = headless("watch", "--redis-url", redis_server.url, "--pool", pool_name)
    wait_until(lambda: script_calls(client) > calls + 2)  # following: reading the stream
    run.send_signal(signum)
    out, err = run.communicate(timeout=120)
    assert err == "" and run.returncode == 128 + signum, out + err
    values = summary(out)
    assert values["ended"] == name and values["joins"] == "1", values
    assert values["pool_found"] == "yes", values


def test_an_error_ends_the_run_after_its_summary(capsys: pytest.CaptureFixture[str]) -> None:
    """An error that is no Redis failure (a bug): the summary first, then the error, which
    the command reports in one line."""
    from lobbysim.cli._headless import run_headless

    with pytest.raises(ZeroDivisionError, match="a bug in a buyer task"):
        run_headless(broken_simulation(), 30.0)
    values = summary(capsys.readouterr().out)
    assert values["ended"] == "error" and values["joins"] == "0", values
