"""lobbycore.transport: the one place that decides what a script call sends and what its
replies mean (FCALL or EVALSHA; a flushed function or script -> EVAL once, with the library
reloaded; error replies -> typed errors), checked without I/O, then through the sync and
asyncio drivers and a store that plugs its own transport in."""

from __future__ import annotations

import asyncio
from typing import Any

import fakeredis
import pytest
from redis.exceptions import (
    AskError,
    ClusterError,
    MovedError,
    NoPermissionError,
    NoScriptError,
    OutOfMemoryError,
    ReadOnlyError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError

from lobbycore import (
    AsyncLobbyStore,
    AsyncTransport,
    LobbyStore,
    PoolDamaged,
    ServerRefused,
    SoldOut,
    Transport,
)
from lobbycore.transport import (
    ROUTE_ATTEMPTS,
    AsyncClientTransport,
    ClientTransport,
    Command,
    Dispatch,
    ScriptCall,
    ScriptSender,
)

FLUSHED_FUNCTION = ResponseError("ERR Function not found")
FLUSHED_SCRIPT = NoScriptError("NOSCRIPT No matching script. Please use EVAL.")


def sold_out_if_empty(reply: Any) -> str:
    if reply == b"":
        raise SoldOut(0, 2)
    return f"parsed {reply!r}"


def ran(answer: bytes) -> list[Any]:
    """A script's reply: the pool's write sequence (above any floor here), then the answer."""
    return [9, answer]


def join(name: str) -> ScriptCall[str]:
    return ScriptCall("join", (f"{{p}}:{name}",), (name, 2), sold_out_if_empty)


def new_sender(*, functions: bool) -> ScriptSender:
    sender = ScriptSender(fakeredis.FakeRedis())
    sender.note_load(None if functions else ResponseError("ERR unknown command 'FUNCTION'"))
    return sender


def test_a_call_goes_out_as_fcall_when_the_library_loaded_else_as_evalsha() -> None:
    assert new_sender(functions=True).dispatch([join("a")]).commands[0][:2] == (
        "FCALL",
        new_sender(functions=True).scripts.command(join("a"))[1],
    )
    evalsha = new_sender(functions=False).dispatch([join("a")]).commands
    assert [command[0] for command in evalsha] == ["EVALSHA"]
    assert evalsha[0][2:] == (1, "{p}:a", "a", 2)


def test_one_round_settles_every_call_that_ran() -> None:
    dispatch = new_sender(functions=True).dispatch([join("a"), join("b")])
    dispatch.receive([ran(b"lobby-a"), ran(b"lobby-b")])
    assert dispatch.commands == []
    assert [dispatch.result(0), dispatch.result(1)] == ["parsed b'lobby-a'", "parsed b'lobby-b'"]


@pytest.mark.parametrize("functions", [True, False], ids=["fcall", "evalsha"])
def test_a_flushed_call_is_sent_again_once_as_eval_and_the_library_reloaded(
    functions: bool,
) -> None:
    sender = new_sender(functions=functions)
    calls = [join("a"), join("b"), join("c")]
    dispatch = sender.dispatch(calls)
    missing = FLUSHED_FUNCTION if functions else FLUSHED_SCRIPT
    dispatch.receive([ran(b"lobby-a"), missing, ran(b"lobby-c")])  # only b did not run
    eval_b = ("EVAL", sender.scripts.scripts["join"].script, 1, "{p}:b", "b", 2)
    if functions:
        reload = dispatch.commands[0]
        assert reload[:3] == ("FUNCTION", "LOAD", "REPLACE") and "lobbycore_" in reload[3]
        assert dispatch.commands[1:] == [eval_b]
        dispatch.receive([b"lobbycore_library", ran(b"lobby-b")])
    else:
        assert dispatch.commands == [eval_b]  # scripts: no library to reload
        dispatch.receive([ran(b"lobby-b")])
    assert dispatch.commands == []
    assert dispatch.outcomes == ["parsed b'lobby-a'", "parsed b'lobby-b'", "parsed b'lobby-c'"]


def test_the_fallback_is_sent_once_never_in_a_loop() -> None:
    dispatch = new_sender(functions=True).dispatch([join("a")])
    dispatch.receive([FLUSHED_FUNCTION])
    dispatch.receive([FLUSHED_FUNCTION, FLUSHED_FUNCTION])  # cannot happen to EVAL; still
    assert dispatch.commands == []
    with pytest.raises(PoolDamaged, match="Function not found"):
        dispatch.result(0)


def test_a_reload_the_server_refuses_does_not_stop_the_eval() -> None:
    dispatch = new_sender(functions=True).dispatch([join("a")])
    dispatch.receive([FLUSHED_FUNCTION])
    dispatch.receive([ResponseError("NOPERM this user has no permissions"), ran(b"lobby-a")])
    assert dispatch.result(0) == "parsed b'lobby-a'"


def test_an_error_reply_is_a_typed_error_with_its_cause_and_is_not_sent_again() -> None:
    refusal = ResponseError("OOM command not allowed when used memory > 'maxmemory'")
    dispatch = new_sender(functions=True).dispatch([join("a"), join("b")])
    dispatch.receive([refusal, ran(b"")])
    assert dispatch.commands == []
    with pytest.raises(ServerRefused, match=r"OOM.*maxmemory") as raised:
        dispatch.result(0)
    assert raised.value.__cause__ is refusal
    assert raised.value.code == "OOM" and not raised.value.retryable
    with pytest.raises(SoldOut):  # the error the reply stands for, from the call's parser
        dispatch.result(1)


def refused(reply: ResponseError) -> BaseException:
    dispatch = new_sender(functions=True).dispatch([join("a")])
    dispatch.receive([reply])
    outcome: BaseException = dispatch.outcomes[0]
    return outcome


# Error replies as redis-py 8 parses them off the wire (its own class, the code apart).
REFUSALS = [
    (ReadOnlyError("You can't write against a read only replica.", status_code="READONLY"),
     "READONLY", True, ()),
    (ResponseError("NOREPLICAS Not enough good replicas to write.", status_code="NOREPLICAS"),
     "NOREPLICAS", True, ()),
    (ResponseError("BUSY Redis is busy running a script.", status_code="BUSY"),
     "BUSY", True, ()),
    (ResponseError("CLUSTERDOWN The cluster is down", status_code="CLUSTERDOWN"),
     "CLUSTERDOWN", True, ()),
    (ResponseError("TRYAGAIN Multiple keys request during rehashing"), "TRYAGAIN", True, ()),
    (ResponseError("MASTERDOWN Link with MASTER is down"), "MASTERDOWN", True, ()),
    (OutOfMemoryError("command not allowed when used memory > 'maxmemory'.",
                      status_code="OOM"), "OOM", False, ()),
    (NoPermissionError("this user has no permissions to run the 'time' command",
                       status_code="NOPERM"), "NOPERM", False, ("time",)),
    # Redis 7.0 and 6.2 inside a script: an ERR that names no command.
    (ResponseError("The user executing the script can't run this command or subcommand "
                   "script: lobbycore_x_join, on @user_function:494.", status_code="ERR"),
     "NOPERM", False, ()),
    # Redis 7.2 and later inside a script.
    (ResponseError("ACL failure in script: User lobby has no permissions to run the 'time' "
                   "command script: lobbycore_x_join", status_code="ERR"), "NOPERM", False,
     ("time",)),
    # A script's first write refused (raised again from its pcall): ERR, the code first.
    (ResponseError("OOM command not allowed when used memory > 'maxmemory'. script: 4cb4",
                   status_code="ERR"), "OOM", False, ()),
    # As a pipeline gives it.
    (ResponseError("Command # 1 (FCALL lobbycore_x_join 1 k) of pipeline caused error: "
                   "READONLY You can't write against a read only replica."),
     "READONLY", True, ()),
]  # fmt: skip


@pytest.mark.parametrize(("reply", "code", "retryable", "commands"), REFUSALS)
def test_a_refusal_of_the_server_is_typed_with_its_code_never_as_damage(
    reply: ResponseError, code: str, retryable: bool, commands: tuple[str, ...]
) -> None:
    outcome = refused(reply)
    assert isinstance(outcome, ServerRefused) and not isinstance(outcome, PoolDamaged)
    assert (outcome.code, outcome.retryable, outcome.commands) == (code, retryable, commands)
    assert str(outcome).startswith(f"the server refused the call ({code}: ")
    assert all(repr(command) in str(outcome) for command in commands)
    assert outcome.__cause__ is reply


def test_an_error_reply_that_is_no_refusal_is_damage() -> None:
    reply = ResponseError("user_function:12: attempt to compare nil with number")
    outcome = refused(reply)
    assert isinstance(outcome, PoolDamaged) and "attempt to compare nil" in str(outcome)


def test_a_round_trip_that_failed_as_a_whole_fails_only_the_calls_still_unsettled() -> None:
    dispatch = new_sender(functions=True).dispatch([join("a"), join("b")])
    dispatch.receive([ran(b"lobby-a"), FLUSHED_FUNCTION])
    assert dispatch.unsettled() == [1]
    dispatch.fail(ConnectionError("reset"))
    assert dispatch.result(0) == "parsed b'lobby-a'"  # it ran and its answer came
    with pytest.raises(ConnectionError, match="reset"):
        dispatch.result(1)
    assert dispatch.unsettled() == []


# --- the drivers ---------------------------------------------------------------------------


OOM = ResponseError("OOM command not allowed when used memory > 'maxmemory'.")


class RecordingClient(fakeredis.FakeRedis):
    """fakeredis recording every command it is sent (pipelined ones too). ``flush``: the
    functions and scripts are flushed just before the next FCALL or EVALSHA (the worst
    timing of a restart). ``refuse``: a join's FCALL gets an error reply (out of memory)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sent: list[Command] = []
        self.flush = self.refuse = False

    def execute_command(self, *args: Any, **options: Any) -> Any:
        if args[0] not in ("FUNCTION FLUSH", "SCRIPT FLUSH"):  # the test's own
            self.sent.append(args)
        if args[0] in ("FCALL", "EVALSHA") and self.flush:
            self.flush = False
            self.function_flush()
            self.script_flush()
        if args[0] == "FCALL" and str(args[1]).endswith("_join") and self.refuse:
            raise OOM
        return super().execute_command(*args, **options)  # type: ignore[no-untyped-call]

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        pipe, sent = super().pipeline(transaction, shard_hint), self.sent

        class Recording:
            def execute_command(self, *args: Any) -> None:
                sent.append(args)
                pipe.execute_command(*args)  # type: ignore[no-untyped-call]

            def execute(self, raise_on_error: bool = True) -> list[Any]:
                replies: list[Any] = pipe.execute(raise_on_error=raise_on_error)
                return replies

        return Recording()


def opened_store(client: RecordingClient) -> LobbyStore:
    store = LobbyStore(client, pool="p", lobby_ttl=None)
    store.stats()  # opens the pool: the library loaded, calls go out as FCALL
    client.sent.clear()
    return store


def test_the_sync_driver_sends_the_fallback_once_and_the_store_goes_on() -> None:
    client = RecordingClient()
    store = opened_store(client)
    client.flush = True
    assert store.find_or_create_lobby("a", 2).users == ("a",)
    assert [command[0] for command in client.sent] == ["FCALL", "FUNCTION", "EVAL"]
    assert client.sent[1][:3] == ("FUNCTION", "LOAD", "REPLACE")
    client.sent.clear()
    assert store.find_or_create_lobby("b", 2).users == ("a", "b")  # by the reloaded library
    assert [command[0] for command in client.sent] == ["FCALL"]


def test_the_sync_driver_raises_a_typed_error_for_an_error_reply() -> None:
    client = RecordingClient()
    store = opened_store(client)
    client.refuse = True
    with pytest.raises(ServerRefused, match="OOM") as raised:
        store.find_or_create_lobby("a", 2)
    assert raised.value.__cause__ is OOM
    assert [command[0] for command in client.sent] == ["FCALL"]  # not sent again


class AsyncRecordingClient:
    """A redis.asyncio stand-in: each pipeline's commands are recorded and answered by
    ``answer`` (command -> reply), after a flushed FCALL the first time."""

    def __init__(self, *, refuse: bool = False) -> None:
        self.rounds: list[list[Command]] = []
        self.flushed = False
        self.refuse = refuse

    def register_script(self, source: str) -> Any:
        return fakeredis.FakeRedis().register_script(source)

    def answer(self, command: Command) -> Any:
        if command[0] == "FCALL" and self.refuse:
            return OOM
        if command[0] == "FCALL" and not self.flushed:
            self.flushed = True
            return FLUSHED_FUNCTION
        return ran(f"reply {command[0]} {command[-2]}".encode())

    def pipeline(self, transaction: bool = True) -> Any:
        client, stack = self, []

        class Pipe:
            def execute_command(self, *args: Any) -> None:
                stack.append(args)

            async def execute(self, raise_on_error: bool = True) -> list[Any]:
                client.rounds.append(list(stack))
                return [client.answer(command) for command in stack]

        return Pipe()

    async def execute_command(self, *args: Any) -> Any:
        self.rounds.append([args])
        reply = self.answer(args)
        if isinstance(reply, Exception):
            raise reply
        return reply


@pytest.mark.parametrize("autopipeline", [True, False], ids=["auto-pipeline", "one-by-one"])
def test_the_async_drivers_send_the_fallback_once(autopipeline: bool) -> None:
    client = AsyncRecordingClient()
    store = AsyncLobbyStore(client, pool="p", lobby_ttl=None, autopipeline=autopipeline)
    store.transport.sender.note_load(None)  # as the store's open does on Redis 7
    calls = [join("a"), join("b"), join("c")]

    async def scenario() -> list[str]:
        return list(await asyncio.gather(*map(store.transport.send, calls)))

    assert asyncio.run(scenario()) == [
        "parsed b'reply EVAL a'" if n == 0 else f"parsed b'reply FCALL {name}'"
        for n, name in enumerate("abc")
    ]
    kinds = [[command[0] for command in sent] for sent in client.rounds]
    if autopipeline:  # one batch; then the reload and the one EVAL, pipelined together
        assert kinds == [["FCALL"] * 3, ["FUNCTION", "EVAL"]]
    else:  # one call per round trip
        assert kinds == [["FCALL"], ["FUNCTION", "EVAL"], ["FCALL"], ["FCALL"]]


@pytest.mark.parametrize("autopipeline", [True, False], ids=["auto-pipeline", "one-by-one"])
def test_the_async_drivers_raise_a_typed_error_for_an_error_reply(autopipeline: bool) -> None:
    client = AsyncRecordingClient(refuse=True)
    store = AsyncLobbyStore(client, pool="p", lobby_ttl=None, autopipeline=autopipeline)
    store.transport.sender.note_load(None)
    with pytest.raises(ServerRefused, match="OOM") as raised:
        asyncio.run(store.transport.send(join("a")))
    assert raised.value.__cause__ is OOM
    assert client.rounds == [[store.transport.sender.command(join("a"))]]  # not sent again


# --- plugging a transport in -----------------------------------------------------------------


class CountingTransport:
    """A transport of one's own: the default driver, counting the calls it carries."""

    def __init__(self, client: Any) -> None:
        self.inner = ClientTransport(client)
        self.calls: list[str] = []

    @property
    def sender(self) -> ScriptSender:
        return self.inner.sender

    def send(self, call: ScriptCall[Any]) -> Any:
        self.calls.append(call.script)
        return self.inner.send(call)


def test_a_store_sends_every_call_through_the_transport_it_is_given() -> None:
    client = fakeredis.FakeRedis()
    transport = CountingTransport(client)
    store = LobbyStore(client, pool="p", lobby_ttl=None, transport=transport)
    lobby = store.join_party(["a", "b"], 2)
    store.book_ticket(lobby.id)
    assert transport.calls == ["open", "join", "book"]
    assert transport.sender.functions  # the store's open told the transport's sender
    assert isinstance(transport, Transport)


def test_the_built_in_drivers_are_transports() -> None:
    assert isinstance(ClientTransport(fakeredis.FakeRedis()), Transport)
    assert isinstance(AsyncClientTransport(fakeredis.FakeAsyncRedis()), AsyncTransport)
    store = AsyncLobbyStore(fakeredis.FakeAsyncRedis(), pool="p")
    assert isinstance(store.transport, AsyncTransport)
    with pytest.raises(TypeError, match="not both"):
        AsyncLobbyStore(
            fakeredis.FakeAsyncRedis(),
            autopipeline=True,
            transport=AsyncClientTransport(fakeredis.FakeAsyncRedis()),
        )


def test_a_dispatch_of_no_call_sends_nothing() -> None:
    assert Dispatch(new_sender(functions=False), []).commands == []


# --- a waiting round on a cluster client -------------------------------------------------------

WAIT_1 = ("WAIT", 1, 200)


class ClusterStandIn:
    """A redis-py cluster client stand-in (sync, or asyncio with ``aio``) with three nodes on
    ports 1..3. The key's slot lives on ``owner``; the client's slot map says ``believed``
    until a refresh learns ``owner`` (with ``moves_to`` set, the slot then moves there, and
    back at the next refresh: the map is always stale).
    A node answers a script command MOVED to the owner unless it owns the slot (or was told
    ASKING and ``ask_from`` sends it there: ASK to ``ask_to``); a WAIT with ``acks``. A node
    in ``down`` fails the whole round with a connection error. ``rounds``: (port, commands)
    of every round sent to a node; ``routed``: commands the cluster client routed itself."""

    def __init__(self, *, aio: bool = False, believed: int = 1, owner: int = 2) -> None:
        self.aio, self.believed, self.owner = aio, believed, owner
        self.moves_to: int | None = None
        self.ask_from: int | None = None
        self.ask_to = 3
        self.down: set[int] = set()
        self.acks = 1
        self.refreshes = 0
        self.rounds: list[tuple[int, list[Command]]] = []
        self.routed: list[Command] = []
        stand_in = self

        class NodesManager:
            def initialize(self) -> Any:  # a refresh of the slot map
                if aio:
                    return _after(stand_in.refresh)
                stand_in.refresh()
                return None

        self.nodes_manager = NodesManager()

    def register_script(self, source: str) -> Any:
        return fakeredis.FakeRedis().register_script(source)

    # The cluster client's own routing (rounds without WAIT).
    def execute_command(self, *args: Any) -> Any:
        self.routed.append(args)
        return ran(b"routed")

    def refresh(self) -> None:
        self.refreshes += 1
        self.believed = self.owner
        if self.moves_to is not None:
            self.owner, self.moves_to = self.moves_to, self.owner  # it moved on again

    def get_node_from_key(self, key: str) -> Any:
        return self.node(self.believed)

    def get_node(self, host: str, port: int) -> Any:
        assert host == "127.0.0.1"
        return self.node(port)

    def answer(self, port: int, commands: list[Command]) -> list[Any]:
        self.rounds.append((port, list(commands)))
        if port in self.down:
            raise RedisConnectionError(f"Connection refused (127.0.0.1:{port})")
        asking = commands[0] == ("ASKING",)
        replies: list[Any] = []
        for command in commands:
            if command[0] == "ASKING":
                replies.append(b"OK")
            elif command[0] == "WAIT":
                replies.append(self.acks)
            elif port == self.ask_from and not asking:
                replies.append(AskError(f"866 127.0.0.1:{self.ask_to}"))
            elif port == self.owner or (asking and port == self.ask_to):
                replies.append(ran(f"lobby@{port}".encode()))
            else:
                replies.append(MovedError(f"866 127.0.0.1:{self.owner}"))
        return replies

    def node(self, port: int) -> _StandInNode:
        return _StandInNode(self, port)

    def get_redis_connection(self, node: _StandInNode) -> Any:
        """The sync client's own connection to ``node``: its pipelines go there."""
        return node

    async def initialize(self) -> None:
        """The asyncio cluster client's own: at once, no refresh being due."""


async def _after(step: Any) -> None:
    step()


class _StandInNode:
    """A node of :class:`ClusterStandIn`: as an asyncio ``ClusterNode`` (its
    ``execute_pipeline`` gives replies, error replies too, as the commands' results), and
    as the sync client's connection to it (``pipeline``)."""

    def __init__(self, client: ClusterStandIn, port: int) -> None:
        self.client, self.port = client, port
        self.stack: list[Command] = []

    async def execute_pipeline(self, commands: list[Any]) -> bool:
        replies = self.client.answer(self.port, [command.args for command in commands])
        for command, reply in zip(commands, replies, strict=True):
            command.result = reply
        return False

    def pipeline(self, transaction: bool = True) -> _StandInNode:
        assert not transaction
        return _StandInNode(self.client, self.port)

    def execute_command(self, *args: Any) -> None:
        self.stack.append(args)

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        assert not raise_on_error
        return self.client.answer(self.port, self.stack)


def cluster_transport(
    client: ClusterStandIn,
) -> ClientTransport | AsyncClientTransport:
    transport = AsyncClientTransport(client) if client.aio else ClientTransport(client)
    transport.sender.scripts.cluster = True  # as for a redis-py cluster client
    transport.sender.note_load(None)  # EVALSHA all the same: a cluster gets no FCALL
    transport.sender.require_replicas(1, 200)
    return transport


def send(transport: ClientTransport | AsyncClientTransport, call: ScriptCall[Any]) -> Any:
    if isinstance(transport, AsyncClientTransport):
        return asyncio.run(transport.send(call))
    return transport.send(call)


def kinds(rounds: list[tuple[int, list[Command]]]) -> list[tuple[int, list[str]]]:
    return [(port, [command[0] for command in commands]) for port, commands in rounds]


ASYNC_OR_NOT = pytest.mark.parametrize("aio", [False, True], ids=["sync", "asyncio"])


@ASYNC_OR_NOT
def test_a_waiting_round_goes_to_its_owner_and_after_moved_again_there_once_the_map_is_fresh(
    aio: bool,
) -> None:
    client = ClusterStandIn(aio=aio, believed=1, owner=2)
    transport = cluster_transport(client)
    assert send(transport, join("a")) == "parsed b'lobby@2'"
    # The stale map sent the round to node 1 (MOVED); refreshed, to node 2: the call and
    # its WAIT on one connection of the node that ran it, each time.
    assert kinds(client.rounds) == [(1, ["EVALSHA", "WAIT"]), (2, ["EVALSHA", "WAIT"])]
    assert client.refreshes == 1 and client.routed == []
    client.rounds.clear()
    assert send(transport, join("b")) == "parsed b'lobby@2'"
    assert kinds(client.rounds) == [(2, ["EVALSHA", "WAIT"])]  # straight there now


@ASYNC_OR_NOT
def test_a_connection_error_refreshes_the_map_and_sends_the_round_again(aio: bool) -> None:
    client = ClusterStandIn(aio=aio, believed=1, owner=2)
    client.down = {1}  # the old primary is gone; its replica (node 2) took the slot over
    assert send(cluster_transport(client), join("a")) == "parsed b'lobby@2'"
    assert [port for port, _ in client.rounds] == [1, 2] and client.refreshes == 1


@ASYNC_OR_NOT
def test_ask_sends_the_round_to_the_node_named_after_asking_without_a_refresh(aio: bool) -> None:
    client = ClusterStandIn(aio=aio, believed=2, owner=2)
    client.ask_from, client.ask_to = 2, 3  # the slot is migrating from node 2 to node 3
    assert send(cluster_transport(client), join("a")) == "parsed b'lobby@3'"
    assert kinds(client.rounds) == [(2, ["EVALSHA", "WAIT"]), (3, ["ASKING", "EVALSHA", "WAIT"])]
    assert client.refreshes == 0


@ASYNC_OR_NOT
def test_a_waiting_round_is_sent_at_most_route_attempts_times_then_the_last_error_raised(
    aio: bool,
) -> None:
    client = ClusterStandIn(aio=aio, believed=1, owner=2)
    client.moves_to = 3  # every refresh finds the slot moved on again
    with pytest.raises(ClusterError, match="still redirected after 3 attempts") as raised:
        send(cluster_transport(client), join("a"))
    assert isinstance(raised.value.__cause__, MovedError)
    assert len(client.rounds) == ROUTE_ATTEMPTS == 3

    client = ClusterStandIn(aio=aio, believed=1, owner=1)
    client.down = {1}  # no failover yet: the refreshed map still names the dead node
    with pytest.raises(RedisConnectionError, match=r"127\.0\.0\.1:1\b"):
        send(cluster_transport(client), join("a"))
    assert [port for port, _ in client.rounds] == [1, 1, 1] and client.refreshes == 2


def test_rounds_without_wait_go_through_the_cluster_client_as_before() -> None:
    client = ClusterStandIn()
    transport = cluster_transport(client)
    read = ScriptCall("lookup", ("{p}:a",), ("a", 0), lambda reply: f"read {reply!r}")
    assert transport.send(read) == "read b'routed'"
    transport.sender.require_replicas(0, 200)
    assert transport.send(join("a")) == "parsed b'routed'"
    assert client.rounds == [] and [command[0] for command in client.routed] == ["EVALSHA"] * 2


def test_a_waiting_store_on_a_cluster_client_needs_a_per_call_transport() -> None:
    from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster

    from lobbycore import InvalidInput

    client = AsyncRedisCluster(host="127.0.0.1", port=1)  # never connected: refused first
    assert AsyncLobbyStore(client, wait_replicas=1).wait_replicas == 1  # per call by default
    with pytest.raises(InvalidInput, match="autopipeline=False"):
        AsyncLobbyStore(client, wait_replicas=1, autopipeline=True)
    slow = AsyncRedisCluster(host="127.0.0.1", port=1, socket_timeout=0.5)
    with pytest.raises(InvalidInput, match="socket_timeout"):
        AsyncLobbyStore(slow, wait_replicas=1, wait_timeout=1.0)


def test_an_async_store_on_a_cluster_client_pipelines_per_primary_by_default() -> None:
    from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster

    client = AsyncRedisCluster(host="127.0.0.1", port=1)  # never connected
    assert not isinstance(AsyncLobbyStore(client).transport, AsyncClientTransport)
    assert isinstance(AsyncLobbyStore(client, wait_replicas=1).transport, AsyncClientTransport)
    assert isinstance(AsyncLobbyStore(client, autopipeline=False).transport, AsyncClientTransport)
