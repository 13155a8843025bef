"""Least privilege: ACL users with exactly the rules of lobbycore.acl run a store, the audit
and the lobbysim commands; a user missing one command is refused, naming it, before
anything is written."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from lobbycore import AsyncLobbyStore, LobbyStore, ServerRefused, connect
from lobbycore.acl import AUDIT_ACL, CLI_ACL, SCRIPT_COMMANDS, STORE_ACL
from lobbycore.audit import check, snapshot
from lobbysim.testing import RedisServer
from tests.cli import lobbysim

LUA = Path(__file__).resolve().parents[2] / "lobbycore" / "lua"
PASSWORD = "acl-pw"
USERS = {"store": STORE_ACL, "audit": AUDIT_ACL, "cli": CLI_ACL}


def test_the_script_commands_are_every_command_the_scripts_call() -> None:
    source = "\n".join(path.read_text() for path in LUA.glob("*.lua"))
    called = re.findall(r"(?:redis\.p?call|\brd)\(\s*'([A-Za-z]+)'", source)
    assert called and {name.lower() for name in called} == set(SCRIPT_COMMANDS)


def set_user(admin: redis.Redis, user: str, rules: str) -> None:
    admin.execute_command("ACL", "SETUSER", user, *rules.split())  # type: ignore[no-untyped-call]


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    with RedisServer() as started:
        admin = started.client(socket_timeout=10)
        for user, rules in USERS.items():
            set_user(admin, user, f"on >{PASSWORD} {rules}")
        admin.close()
        yield started


def url(server: RedisServer, user: str) -> str:
    return f"redis://{user}:{PASSWORD}@127.0.0.1:{server.port}/0"


def test_a_store_runs_every_operation_with_the_store_acl(server: RedisServer) -> None:
    client = connect(url(server, "store"))
    store = LobbyStore(client, pool="least", lobby_ttl=30)
    store.set_seats(10)
    party = store.join_party(["a", "b"], 3)
    assert store.find_or_create_lobby("c", 3).is_full
    assert store.leave_lobby("c") is not None and store.lobby_of("a") == store.get_lobby(party.id)
    assert store.book_ticket(party.id).users == ("a", "b")
    assert store.seats_left() == 8 and store.sweep_expired() == 0
    assert [event.type for event in store.events()][-1] == "booked"
    with pytest.raises(redis.ResponseError, match=r"NOPERM|no permissions"):
        client.keys("*")  # nothing beyond the rules
    client.close()

    async def run_async() -> None:
        aclient = connect(url(server, "store"), asyncio=True, cluster=False)
        astore = AsyncLobbyStore(aclient, pool="least-async", lobby_ttl=30)
        lobbies = await asyncio.gather(*(astore.find_or_create_lobby(f"u{i}", 2) for i in range(6)))
        assert len({lobby.id for lobby in lobbies}) == 3
        assert (await astore.stats()).joins == 6
        await aclient.aclose()

    asyncio.run(run_async())


def test_the_audit_reads_a_pool_with_the_audit_acl(server: RedisServer) -> None:
    client = connect(url(server, "audit"))
    store = LobbyStore(client, pool="audited", lobby_ttl=30)
    store.book_ticket(store.join_party(["a", "b"], 2).id)
    assert check(snapshot(client, "audited")).ok
    client.close()


def test_the_lobbysim_commands_run_with_the_cli_acl(server: RedisServer) -> None:
    demo = lobbysim(
        "demo", "--headless", "--duration", "2", "--rate", "50", "--redis-url", url(server, "cli")
    )
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    client = connect(url(server, "cli"))
    store = LobbyStore(client, pool="cli-audited", lobby_ttl=30)
    store.book_ticket(store.join_party(["a", "b"], 2).id)
    client.close()
    audit = lobbysim("audit", "--pool", "cli-audited", "--redis-url", url(server, "cli"))
    assert audit.returncode == 0, audit.stdout[-2000:] + audit.stderr[-2000:]
    assert PASSWORD not in demo.stdout + demo.stderr + audit.stdout + audit.stderr


def test_a_user_missing_one_command_is_refused_naming_it_before_any_write(
    server: RedisServer,
) -> None:
    admin = server.client(socket_timeout=10)
    set_user(admin, "no-time", f"on >{PASSWORD} {STORE_ACL} -time")
    keys = admin.dbsize()
    client = connect(url(server, "no-time"))
    with pytest.raises(ServerRefused, match="may not run 'time'") as raised:
        LobbyStore(client, pool="denied", lobby_ttl=30).find_or_create_lobby("a", 2)
    assert (raised.value.code, raised.value.commands, raised.value.retryable) == (
        "NOPERM",
        ("time",),
        False,
    )
    assert "lobbycore.acl.STORE_ACL" in str(raised.value)
    assert admin.dbsize() == keys
    client.close()
    admin.close()


def test_a_waiting_store_whose_user_may_not_wait_is_refused_naming_it(server: RedisServer) -> None:
    admin = server.client(socket_timeout=10)
    set_user(admin, "no-wait", f"on >{PASSWORD} {STORE_ACL} -wait")
    keys = admin.dbsize()
    client = connect(url(server, "no-wait"))
    with pytest.raises(ServerRefused, match="may not run 'wait'") as raised:
        LobbyStore(client, pool="no-wait", lobby_ttl=30, wait_replicas=1).find_or_create_lobby(
            "a", 2
        )
    assert (raised.value.code, raised.value.commands) == ("NOPERM", ("wait",))
    assert admin.dbsize() == keys
    # A store that does not wait does not need it.
    assert LobbyStore(client, pool="no-wait", lobby_ttl=30).find_or_create_lobby("a", 2).users == (
        "a",
    )
    client.close()
    admin.close()
