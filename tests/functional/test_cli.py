"""The lobbysim command as a user runs it (in a subprocess)."""

from __future__ import annotations

import pytest

from lobbycore import LobbyStore, NaiveLobbyStore
from lobbysim.testing import RedisServer, free_port
from tests.cli import lobbysim


def test_help_lists_commands() -> None:
    result = lobbysim("--help")
    assert result.returncode == 0
    assert "race" in result.stdout and "audit" in result.stdout
    assert lobbysim().returncode == 0


def test_race_on_embedded_redis_shows_the_naive_violations() -> None:
    result = lobbysim("race", "--users", "200", "--concurrency", "40")
    assert result.returncode == 0, result.stderr
    lines = {
        line.split()[0]: line for line in result.stdout.splitlines() if line.startswith("strategy=")
    }
    assert "ok=true violations=0" in lines["strategy=atomic"]
    assert "ok=false" in lines["strategy=naive"]
    assert "embedded in-process Redis" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("race", "--users", "-3"),
        ("race", "--max-users", "0"),
        ("race", "--concurrency", "many"),
        ("nope",),
        ("audit", "--pool", "p"),
        ("audit", "--redis-url", "redis://127.0.0.1:1/0", "--pool", "p{x}"),
        ("audit", "--redis-url", "redis://127.0.0.1:1/0", "--pool", "p", "--shards", "0"),
        (
            "audit",
            "--redis-url",
            "redis://127.0.0.1:1/0",
            "--pool",
            "p",
            "--shards",
            "2",
            "--naive",
        ),
        ("watch", "--redis-url", "redis://127.0.0.1:1/0", "--pool", "p", "--shards", "x"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: tuple[str, ...]) -> None:
    result = lobbysim(*args)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_url_is_redacted() -> None:
    url = f"redis://alice:hunter2@127.0.0.1:{free_port()}/0"
    result = lobbysim("race", "--redis-url", url)
    assert result.returncode == 2
    assert "hunter2" not in result.stderr + result.stdout
    assert "alice:***@" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_audit_passes_a_lobbycore_pool_and_fails_a_broken_one(
    redis_server: RedisServer, pool_name: str
) -> None:
    client = redis_server.client()
    store = LobbyStore(client, pool=pool_name, lobby_ttl=None)
    for i in range(10):
        store.find_or_create_lobby(f"u{i}", 3)
    ok = lobbysim("audit", "--redis-url", redis_server.url, "--pool", pool_name)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.strip().splitlines()[-1].startswith(f"pool={pool_name} ok=true violations=0")
    assert "waiting=10" in ok.stdout

    sharded = LobbyStore(client, pool=pool_name, lobby_ttl=None, shards=3)
    for i in range(10):
        sharded.find_or_create_lobby(f"s{i}", 3)
    ok = lobbysim("audit", "--redis-url", redis_server.url, "--pool", pool_name, "--shards", "3")
    assert ok.returncode == 0 and "waiting=10" in ok.stdout, ok.stdout + ok.stderr

    naive = NaiveLobbyStore(client, pool=pool_name)
    for i in range(3):
        naive.find_or_create_lobby(f"n{i}", 2)
    naive.find_or_create_lobby("late", 5)  # a different size enters a full lobby of 2
    bad = lobbysim("audit", "--redis-url", redis_server.url, "--pool", pool_name, "--naive")
    assert bad.returncode == 1
    assert "over_capacity=1" in bad.stdout


def test_race_on_a_real_server_cleans_up_only_its_pool(redis_server: RedisServer) -> None:
    client = redis_server.client()
    client.set("someone-else:key", "untouched")
    result = lobbysim("race", "--redis-url", redis_server.url, "--users", "60", "--pool", "mine")
    assert result.returncode == 0, result.stderr
    assert not list(client.scan_iter(match="lobbysim*{mine}*"))
    assert client.get("someone-else:key") == b"untouched"
    kept = lobbysim(
        "race", "--redis-url", redis_server.url, "--users", "60", "--pool", "kept", "--keep"
    )
    assert kept.returncode == 0 and list(client.scan_iter(match="lobbysim:{kept}:*"))
