"""Every output of every command redacts the password, whatever form the URL gives it in
(userinfo, ``?password=``, a ``--redis-url=URL`` token, ``REDIS_URL``, reserved characters
left unencoded): on a server that wants it and on one that cannot be reached, the secret
appears nowhere in stdout, stderr, the dashboard's title and log, or the files written."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from lobbysim.cli._common import run_handler
from lobbysim.cli._redis import open_clients
from lobbysim.testing import RedisServer, free_port
from simulator import PoolFollower, SimConfig, Simulation
from simulator.dashboard import LobbySimApp
from tests.cli import lobbysim

SECRET = "s3cr3t#pw/x?y"
"""Holds characters that must be percent-encoded in a URL, and often are not."""
ENCODED = quote(SECRET, safe="")


@pytest.fixture(scope="module")
def guarded() -> Iterator[RedisServer]:
    """A server that requires the password."""
    with RedisServer() as server:
        server.client().config_set("requirepass", SECRET)
        yield server


def url_forms(port: int) -> dict[str, str]:
    return {
        "userinfo": f"redis://:{ENCODED}@127.0.0.1:{port}/0",
        "userinfo-unencoded": f"redis://:{SECRET}@127.0.0.1:{port}/0",
        "query": f"redis://127.0.0.1:{port}/0?password={ENCODED}",
    }


def leaks(text: str) -> list[str]:
    parts = {SECRET, ENCODED, "s3cr3t"}  # nor any recognisable piece of it
    return [part for part in parts if part in text]


def commands(url: str, pool: str, out: Path) -> dict[str, list[str]]:
    flag = ["--redis-url", url]
    return {
        "race": ["race", *flag, "--users", "30"],
        "race=": ["race", f"--redis-url={url}", "--users", "30"],
        "demo": ["demo", "--headless", "--duration", "1", *flag],
        "demo-naive": ["demo", "--headless", "--duration", "1", "--strategy", "naive", *flag],
        "watch": ["watch", "--headless", "--duration", "1", *flag, "--pool", pool],
        "audit": ["audit", *flag, "--pool", pool],
        "capacity": ["capacity", f"--redis-url={url}", "--out", str(out), "--step-seconds", "0"],
    }


def run_all(url: str, pool: str, tmp_path: Path, env_too: bool = True) -> None:
    for name, args in commands(url, pool, tmp_path / "out").items():
        result = lobbysim(*args, timeout=120)
        assert not leaks(result.stdout + result.stderr), (name, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr, (name, result.stderr)
    if env_too:  # the same URL from the environment
        env = {**os.environ, "REDIS_URL": url}
        result = lobbysim("demo", "--headless", "--duration", "1", env=env, timeout=60)
        assert not leaks(result.stdout + result.stderr), result.stderr


@pytest.mark.parametrize("form", list(url_forms(0)))
def test_no_output_shows_the_password_of_a_server_that_is_down(
    form: str, tmp_path: Path, pool_name: str
) -> None:
    run_all(url_forms(free_port())[form], pool_name, tmp_path)


@pytest.mark.parametrize("form", ["userinfo", "query"])
def test_no_output_shows_the_password_of_a_server_in_use(
    form: str, guarded: RedisServer, tmp_path: Path, pool_name: str
) -> None:
    url = url_forms(guarded.port)[form]
    race = lobbysim("race", "--redis-url", url, "--users", "30")
    assert race.returncode == 0, race.stderr  # the password was used, not only hidden
    run_all(url, pool_name, tmp_path, env_too=False)


def test_the_capacity_report_shows_no_password(guarded: RedisServer, tmp_path: Path) -> None:
    url = url_forms(guarded.port)["query"]
    out = tmp_path / "capacity"
    result = lobbysim(
        "capacity", f"--redis-url={url}", "--out", str(out), "--quick", "--users", "4",
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert not leaks(result.stdout + result.stderr)
    written = [path for path in out.rglob("*") if path.is_file()]
    # The command line keeps its flag, with only the password masked.
    shown = f"--redis-url=redis://127.0.0.1:{guarded.port}/0?password=***"
    assert shown in (out / "report.md").read_text()
    for path in written:
        assert not leaks(path.read_bytes().decode("utf-8", "replace")), path


@pytest.mark.parametrize("mode", ["demo", "watch"])
async def test_the_dashboard_shows_no_password(
    guarded: RedisServer, pool_name: str, mode: str
) -> None:
    clients = open_clients(url_forms(guarded.port)["query"])
    source = (
        Simulation(clients, SimConfig(pool=pool_name, rate=30.0))
        if mode == "demo"
        else PoolFollower(clients, pool_name)
    )
    app = LobbySimApp(source)
    async with app.run_test(size=(150, 40)) as pilot:
        await pilot.pause(1.0)
        assert "127.0.0.1" in app.sub_title and not leaks(app.sub_title + app.title)
        assert not leaks("\n".join(source.log))
        await pilot.press("q")
    await clients.async_client.aclose()


def test_an_error_quoting_the_password_alone_is_masked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An error that repeats the password without its URL (as some servers' replies do)."""
    url = url_forms(1)["userinfo"]

    def handler(args: argparse.Namespace) -> int:
        raise RuntimeError(f"server said: wrong password {SECRET}")

    assert run_handler(handler, argparse.Namespace(redis_url=url)) == 2
    err = capsys.readouterr().err
    assert not leaks(err) and "wrong password ***" in err


async def test_a_log_line_quoting_the_password_is_masked(guarded: RedisServer) -> None:
    clients = open_clients(url_forms(guarded.port)["userinfo"])
    follower = PoolFollower(clients, "p")
    follower.lost(ConnectionError(f"lost {SECRET} on the way"))
    assert follower.disconnected and not leaks("\n".join(follower.log))
    await clients.async_client.aclose()
