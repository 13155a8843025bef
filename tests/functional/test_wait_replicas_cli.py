"""``--wait-replicas`` through the commands, on a private primary and replica: ``race`` and
``demo`` run clean while the replica is in sync (and their writes do wait); with the replica
frozen, ``lobbysim serve`` answers a join 503 ``not_confirmed`` (its reads still answer, and
the same join once the replica is back is the same lobby), and a demo counts every write as
an error, none as a success. A store's ACL (lobbycore.acl.STORE_ACL) may WAIT."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
import redis

from lobbycore import LobbyStore, NotConfirmed, connect
from lobbycore.acl import STORE_ACL
from lobbysim.testing import RedisServer
from tests.cli import lobbysim
from tests.functional.test_serve import http, serve
from tests.realredis.test_wait_replicas import paused, primary_and_replica

TIMEOUT = "0.2"


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[RedisServer, redis.Redis, RedisServer]]:
    with primary_and_replica() as started:
        yield started


def waits(admin: redis.Redis) -> int:
    """WAIT commands the primary has run so far."""
    stats = admin.info("commandstats")
    return int(stats.get("cmdstat_wait", {}).get("calls", 0))


def summary(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    line = result.stdout.strip().splitlines()[-1]
    return dict(part.split("=", 1) for part in line.split())


def test_race_with_wait_replicas_runs_clean_and_waits(
    servers: tuple[RedisServer, redis.Redis, RedisServer],
) -> None:
    primary, admin, _ = servers
    before = waits(admin)
    done = lobbysim(
        "race", "--redis-url", primary.url, "--users", "40", "--concurrency", "4",
        "--wait-replicas", "1", "--wait-timeout", "2",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "strategy=atomic" in done.stdout  # exit 0: its audit found nothing
    # The writes waited (one WAIT per round trip: the asyncio store pipelines several calls).
    assert waits(admin) > before


def test_demo_with_wait_replicas_runs_clean_then_counts_unconfirmed_writes_as_errors(
    servers: tuple[RedisServer, redis.Redis, RedisServer],
) -> None:
    primary, admin, replica = servers
    base = ["demo", "--headless", "--duration", "2", "--redis-url", primary.url, "--seed", "1"]
    before = waits(admin)
    clean = lobbysim(*base, "--wait-replicas", "1", "--wait-timeout", "2")
    assert clean.returncode == 0, clean.stderr
    values = summary(clean)
    assert (values["violations"], values["errors"]) == ("0", "0")
    assert int(values["joins"]) > 0 and waits(admin) > before

    with paused(replica):
        frozen = lobbysim(*base, "--wait-replicas", "1", "--wait-timeout", TIMEOUT)
    values = summary(frozen)
    assert frozen.returncode == 3, frozen.stderr  # the run's writes may not survive
    assert values["joins"] == "0" and int(values["errors"]) > 0


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_answers_an_unconfirmed_join_503_not_confirmed(
    servers: tuple[RedisServer, redis.Redis, RedisServer], workers: str
) -> None:
    primary, _, replica = servers
    pool = f"served-{workers}"
    options = ("--wait-replicas", "1", "--wait-timeout", TIMEOUT, "--workers", workers)
    with serve(primary, pool, *options) as base:
        assert http("POST", f"{base}/lobbies/join", {"userId": "a", "maxUsers": 3})[0] == 200
        with paused(replica):
            status, body = http("POST", f"{base}/lobbies/join", {"userId": "b", "maxUsers": 3})
            assert (status, body["code"]) == (503, "not_confirmed")
            assert "the write happened on the primary but" in body["detail"]
            assert "0 of 1 replicas" in body["detail"]
            assert http("GET", f"{base}/stats")[0] == 200  # reads do not wait
        status, lobby = http("POST", f"{base}/lobbies/join", {"userId": "b", "maxUsers": 3})
        assert status == 200 and lobby["users"] == ["a", "b"]  # the same join, now confirmed


def test_the_store_acl_may_wait() -> None:
    with RedisServer() as server:
        admin = server.client(socket_timeout=10)
        rules = f"on >pw {STORE_ACL}".split()
        admin.execute_command("ACL", "SETUSER", "waiter", *rules)  # type: ignore[no-untyped-call]
        admin.close()
        client = connect(f"redis://waiter:pw@127.0.0.1:{server.port}/0")
        store = LobbyStore(client, pool="acl-wait", wait_replicas=1, wait_timeout=0.05)
        with pytest.raises(NotConfirmed) as raised:
            store.find_or_create_lobby("a", 2)  # no replica: none acknowledges, none refuses
        assert (raised.value.acknowledged_by, raised.value.detail) == (0, "")
        client.close()
