"""`lobbysim demo --headless` and `lobbysim watch --headless`, as a user runs them."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from lobbycore import LobbyStore
from lobbysim.testing import RedisServer, free_port
from tests.cli import lobbysim


def summary(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    line = result.stdout.strip().splitlines()[-1]
    return dict(part.split("=", 1) for part in line.split())


def test_headless_atomic_demo_has_no_violations() -> None:
    result = lobbysim("demo", "--headless", "--duration", "3", "--rate", "150", "--seed", "3")
    assert result.returncode == 0, result.stderr
    values = summary(result)
    assert (
        values["violations"] == "0" and int(values["joins"]) > 100 and int(values["bookings"]) > 10
    )
    for key in ("leaves", "joins_per_s", "p99_ms"):
        assert key in values


def test_headless_naive_demo_exits_1_with_violations() -> None:
    result = lobbysim(
        "demo",
        "--headless",
        "--duration",
        "3",
        "--rate",
        "150",
        "--strategy",
        "naive",
        "--seed",
        "3",
    )
    assert result.returncode == 1
    assert int(summary(result)["violations"]) > 0


def test_headless_demo_on_a_real_server_never_oversells(redis_server: RedisServer) -> None:
    result = lobbysim(
        "demo",
        "--headless",
        "--duration",
        "3",
        "--rate",
        "200",
        "--seats",
        "100",
        "--redis-url",
        redis_server.url,
        "--pool",
        "demo-seats",
        "--keep",
    )
    assert result.returncode == 0, result.stderr
    values = summary(result)
    assert values["seats_left"] == "0" and values["violations"] == "0"
    assert int(redis_server.client().hget("lobbysim:{demo-seats}:meta", "seats")) == 0


@pytest.mark.parametrize(
    "args",
    [
        ("demo", "--rate", "-1", "--headless"),
        ("demo", "--max-users", "0", "--headless"),
        ("demo", "--rate", "fast"),
        ("demo", "--headless", "--duration", "0"),
        ("demo", "--pool", "a{b}", "--headless"),
        ("watch", "--pool", "p"),
    ],
)
def test_bad_demo_flags_are_one_line_exit_2(
    args: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    result = lobbysim(*args)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_unreachable_demo_url_is_one_line_and_redacted() -> None:
    result = lobbysim(
        "demo", "--headless", "--redis-url", f"redis://bob:pw123@127.0.0.1:{free_port()}/0"
    )
    assert result.returncode == 2 and "pw123" not in result.stderr and "bob:***@" in result.stderr


@pytest.mark.parametrize("shards", [1, 3])
def test_watch_follows_a_pool_loaded_by_another_process(
    redis_server: RedisServer, pool_name: str, shards: int
) -> None:
    store = LobbyStore(redis_server.client(), pool=pool_name, lobby_ttl=None, shards=shards)
    store.find_or_create_lobby("early", 2)  # before the watcher starts: seen by its first read
    watcher = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lobbysim.cli",
            "watch",
            "--headless",
            "--duration",
            "4",
            "--redis-url",
            redis_server.url,
            "--pool",
            pool_name,
            "--shards",
            str(shards),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stop = threading.Event()

    def load() -> None:
        time.sleep(1.5)
        i = 0
        while not stop.is_set() and i < 200:
            lobby = store.find_or_create_lobby(f"u{i}", 2)
            if lobby.is_full:
                store.book_ticket(lobby.id)
            i += 1
            time.sleep(0.005)

    loader = threading.Thread(target=load)
    loader.start()
    out, err = watcher.communicate(timeout=60)
    stop.set()
    loader.join()
    assert watcher.returncode == 0, err
    values = dict(part.split("=", 1) for part in out.strip().splitlines()[-1].split())
    assert int(values["joins"]) > 10 and int(values["bookings"]) > 5 and values["violations"] == "0"
