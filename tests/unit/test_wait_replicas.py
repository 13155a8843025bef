"""Durability (``wait_replicas``) without a replica: the transport seam ends each round
that holds a writing call with one WAIT, on the same connection, after the writes; reads
and a store without the option send none; too few acknowledgements turn a writing call's
result into NotConfirmed (its result attached), never a success; bad input writes nothing."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import fakeredis
import pytest
import redis
from redis.exceptions import ResponseError

from lobbycore import AsyncLobbyStore, InvalidInput, LobbyStore, NotConfirmed, SoldOut
from lobbycore._pipeline import AutoPipeline
from lobbycore.transport import ClientTransport, Command, ScriptCall, ScriptSender
from tests.unit.test_transport import FLUSHED_FUNCTION, join, new_sender, ran

WAIT = ("WAIT", 1, 200)


def lookup(name: str) -> ScriptCall[str]:
    return ScriptCall("lookup", (f"{{p}}:{name}",), (name, 0), lambda reply: f"read {reply!r}")


def waiting_sender(*, functions: bool = True) -> ScriptSender:
    sender = new_sender(functions=functions)
    sender.require_replicas(1, 200)
    return sender


def test_one_wait_ends_a_round_with_writes_and_confirms_them() -> None:
    dispatch = waiting_sender().dispatch([join("a"), lookup("b"), join("c")])
    assert dispatch.commands[-1] == WAIT and dispatch.commands.count(WAIT) == 1
    assert len(dispatch.commands) == 4  # the three calls, then the WAIT
    dispatch.receive([ran(b"lobby-a"), ran(b"b"), ran(b"lobby-c"), 1])
    assert dispatch.outcomes == ["parsed b'lobby-a'", "read b'b'", "parsed b'lobby-c'"]


def test_too_few_replicas_make_each_write_not_confirmed_with_its_result_and_reads_answer() -> None:
    dispatch = waiting_sender().dispatch([join("a"), lookup("b"), join("c")])
    dispatch.receive(
        [ran(b"lobby-a"), ran(b"b"), ran(b""), 0]
    )  # c: sold out (wrote nothing, told so)
    with pytest.raises(NotConfirmed) as raised:
        dispatch.result(0)
    error = raised.value
    assert (error.result, error.acknowledged_by, error.wanted, error.timeout) == (
        "parsed b'lobby-a'",
        0,
        1,
        0.2,
    )
    assert "happened on the primary" in str(error) and "may or may not survive" in str(error)
    assert dispatch.result(1) == "read b'b'"
    with pytest.raises(SoldOut):
        dispatch.result(2)


def test_a_wait_the_server_refuses_confirms_nothing_and_says_why() -> None:
    dispatch = waiting_sender().dispatch([join("a")])
    dispatch.receive([ran(b"lobby-a"), ResponseError("NOPERM this user has no permissions")])
    with pytest.raises(NotConfirmed, match="refused WAIT: NOPERM") as raised:
        dispatch.result(0)
    assert raised.value.result == "parsed b'lobby-a'" and raised.value.acknowledged_by == 0


def test_reads_alone_and_a_sender_without_the_option_send_no_wait() -> None:
    assert WAIT not in waiting_sender().dispatch([lookup("a"), lookup("b")]).commands
    plain = new_sender(functions=True).dispatch([join("a")])
    assert [command[0] for command in plain.commands] == ["FCALL"]
    off = waiting_sender()
    off.require_replicas(0, 200)
    assert [command[0] for command in off.dispatch([join("a")]).commands] == ["FCALL"]


def test_the_fallback_round_waits_again_for_the_calls_it_runs() -> None:
    dispatch = waiting_sender().dispatch([join("a"), join("b")])
    dispatch.receive([ran(b"lobby-a"), FLUSHED_FUNCTION, 1])  # a confirmed; b did not run
    assert dispatch.outcomes[0] == "parsed b'lobby-a'"
    assert dispatch.commands[0][:2] == ("FUNCTION", "LOAD")
    assert dispatch.commands[1][0] == "EVAL" and dispatch.commands[-1] == WAIT
    dispatch.receive([b"lobbycore_library", ran(b"lobby-b"), 0])
    assert dispatch.outcomes[0] == "parsed b'lobby-a'"  # settled by the first WAIT
    assert isinstance(dispatch.outcomes[1], NotConfirmed)


class Recording(ClientTransport):
    """The sync driver on fakeredis (which has no WAIT): each round's commands are kept,
    and a WAIT is answered with ``acks`` instead of going to fakeredis."""

    def __init__(self, client: Any, acks: int) -> None:
        super().__init__(client)
        self.rounds: list[list[Command]] = []
        self.acks = acks

    def _round_trip(self, commands: list[Command]) -> list[Any]:
        self.rounds.append(list(commands))
        waits = commands[-1][0] == "WAIT"
        replies = super()._round_trip(commands[:-1] if waits else commands)
        return [*replies, self.acks] if waits else replies


def test_every_writing_call_of_a_store_waits_in_its_own_round_trip_and_no_read_does() -> None:
    client = fakeredis.FakeRedis()
    transport = Recording(client, acks=1)
    store = LobbyStore(client, pool="w", wait_replicas=1, wait_timeout=0.2, transport=transport)
    writes: list[Any] = [
        lambda: store.set_seats(5),
        lambda: store.find_or_create_lobby("a", 2),
        lambda: store.join_party(["b"], 2),
        lambda: store.leave_lobby("b"),
        lambda: store.sweep_expired(),
    ]
    reads: list[Any] = [lambda: store.lobby_of("a"), store.stats, lambda: store.events()]
    for write in writes:
        write()
        last = transport.rounds[-1]
        assert last[-1] == WAIT and last[0][0] in ("FCALL", "EVALSHA"), last
    lobby = store.find_or_create_lobby("c", 2)
    store.book_ticket(lobby.id, "r1")
    assert transport.rounds[-1][-1] == WAIT
    for read in reads:
        read()
        assert all(command[0] != "WAIT" for command in transport.rounds[-1])

    transport.acks = 0
    with pytest.raises(NotConfirmed) as raised:
        store.book_ticket(lobby.id, "r1")  # a replay: the same booking, still not confirmed
    assert raised.value.result.request_id == "r1"


def test_a_store_without_the_option_sends_no_wait() -> None:
    client = fakeredis.FakeRedis()
    transport = Recording(client, acks=0)
    store = LobbyStore(client, pool="off", transport=transport)
    store.find_or_create_lobby("a", 2)
    store.set_seats(1)
    assert all(command[0] != "WAIT" for round_ in transport.rounds for command in round_)


class RecordingAutoPipeline(AutoPipeline):
    def __init__(self, client: Any) -> None:
        super().__init__(client)
        self.rounds: list[list[Command]] = []

    async def _round_trip(self, commands: list[Command]) -> list[Any]:
        self.rounds.append(list(commands))
        waits = commands[-1][0] == "WAIT"
        replies = await super()._round_trip(commands[:-1] if waits else commands)
        return [*replies, 0] if waits else replies


def test_the_asyncio_auto_pipeline_sends_one_wait_per_round_after_its_writes() -> None:
    async def run() -> list[Any]:
        client = fakeredis.FakeAsyncRedis()
        transport = RecordingAutoPipeline(client)
        store = AsyncLobbyStore(
            client, pool="aw", wait_replicas=1, wait_timeout=0.2, transport=transport
        )
        await store.stats()  # opens the pool: the rounds below are the calls alone
        transport.rounds.clear()
        outcomes = await asyncio.gather(
            *(store.find_or_create_lobby(f"u{i}", 4) for i in range(20)),
            store.lobby_of("nobody"),
            return_exceptions=True,
        )
        writing = [r for r in transport.rounds if any(c[1].endswith("_join") for c in r[:-1])]
        assert writing and all(r[-1] == WAIT and r.count(WAIT) == 1 for r in writing)
        assert sum(len(r) - 1 for r in writing) >= 20
        return outcomes

    outcomes = asyncio.run(run())
    assert all(isinstance(o, NotConfirmed) for o in outcomes[:20]) and outcomes[20] is None


@pytest.mark.parametrize(
    ("replicas", "timeout"),
    [(-1, 1.0), (101, 1.0), (True, 1.0), ("1", 1.0), (1, 0), (1, -1.0), (1, math.nan), (1, 61)],
)
def test_bad_durability_input_is_refused_before_anything_is_written(
    replicas: Any, timeout: Any
) -> None:
    client = fakeredis.FakeRedis()
    with pytest.raises(InvalidInput, match="wait_"):
        LobbyStore(client, pool="bad", wait_replicas=replicas, wait_timeout=timeout)
    assert client.dbsize() == 0


def test_a_wait_longer_than_the_client_socket_timeout_is_refused() -> None:
    client = redis.Redis(port=1, socket_timeout=0.5)  # never connected: refused first
    with pytest.raises(InvalidInput, match="socket_timeout"):
        LobbyStore(client, wait_replicas=1, wait_timeout=1.0)
    assert LobbyStore(client, wait_replicas=1, wait_timeout=0.25).wait_replicas == 1


def test_the_run_options_carry_the_option_checked_once_naming_the_flag() -> None:
    from lobbysim.run.options import to_locust_args, validate

    options = validate({"wait_replicas": "2", "wait_timeout": "0.5"})
    assert (options.wait_replicas, options.wait_timeout) == (2, 0.5)
    assert to_locust_args({"wait_replicas": 1}) == ["--wait-replicas", "1"]
    for values, message in [
        ({"wait_replicas": "-1"}, "--wait-replicas must be in 0..100, got -1"),
        ({"wait_timeout": "0"}, "--wait-timeout must be in (0, 4], got 0"),
        # The run's clients give up on a reply after lobbycore's SOCKET_TIMEOUT (5 s).
        ({"wait_timeout": "5"}, "--wait-timeout must be in (0, 4], got 5"),
        ({"wait_replicas": "1", "strategy": "naive"}, "--wait-replicas needs the atomic"),
    ]:
        with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace("]", r"\]")):
            validate(values)


def test_the_factory_passes_the_option_and_refuses_it_for_the_naive_strategy() -> None:
    from lobbycore import store_for

    client = fakeredis.FakeRedis()
    store = store_for(client, "atomic", pool="f", wait_replicas=1, wait_timeout=0.3)
    assert isinstance(store, LobbyStore) and store.wait_replicas == 1
    with pytest.raises(InvalidInput, match="atomic strategy"):
        store_for(client, "naive", pool="f", wait_replicas=1)
    assert client.dbsize() == 0
