"""The Locust client's gevent auto-pipeline on a Redis Cluster (ClusterAutoPipeline), and
lobbycore's asyncio one (AsyncLobbyStore(autopipeline=True)) on a cluster client: calls
batched per primary by their key's slot, and a redirected (MOVED, ASK) or cut-off call sent
again, alone, where lobbycore's Redirected and ClusterRoute say, a bounded number of times.

Plain gevent, no monkey-patching: a stand-in for redis-py's cluster client over fake nodes
that answer as Redis Cluster primaries do (a script call whose slot the node does not serve
is redirected). The real thing, slots moving mid-run included, is in
tests/functional/test_locust_cluster.py.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import gevent
import hiredis
import pytest
from redis.exceptions import AskError, ClusterError, MovedError
from redis.exceptions import ConnectionError as RedisConnectionError

from lobbycore import NotConfirmed
from lobbycore._pipeline import AutoPipeline
from lobbycore.transport import ROUTE_ATTEMPTS, Command, ScriptCall
from locustfiles.pipeline import ClusterAutoPipeline
from tests.pipeline_fakes import RegistersScripts, ran

SLOTS = {"{a}:stats": 10, "{b}:stats": 20, "{c}:stats": 30}
PORTS = (1, 2, 3)
A, B, C = SLOTS


def call_on(key: str, name: str) -> ScriptCall[Any]:
    """A join sent as ``EVALSHA <sha> 1 <key> <name> 0``; its result is the answer as it
    came: ``<name>@<port of the node that ran it>``."""
    return ScriptCall("join", (key,), (name, 0), lambda reply: reply)


class FakeCluster(RegistersScripts):
    """What ClusterAutoPipeline and lobbycore's send_routed use of a redis-py RedisCluster
    (``keyslot``, ``nodes_manager.slots_cache``/``initialize``, ``get_node``,
    ``get_node_from_key``, ``get_redis_connection``), over nodes on ports 1-3.

    ``owner``: which node really serves each key's slot; the slot map (``slots_cache``) is
    the owners as of the last :meth:`initialize`, so changing ``owner`` makes it stale."""

    def __init__(self, **owners: int) -> None:
        self.owner = {f"{{{k}}}:stats": port for k, port in owners.items()}
        self.nodes_manager = self
        self.nodes = {port: FakeNode(self, port) for port in PORTS}
        self.down: set[int] = set()
        self.migrating: dict[str, int] = {}  # key -> the node its slot is moving to (ASK)
        self.moves_on: set[str] = set()  # keys whose slot moves on right after a refresh
        self.acks = {port: 1 for port in PORTS}  # what WAIT answers on each node
        self.writes: list[tuple[int, list[Command]]] = []  # (node, its commands) per write
        self.slots_cache: dict[int, list[FakeNode]] = {}
        self.refreshes = -1
        self.refresh()

    # -- the parts of RedisCluster --
    def keyslot(self, key: str) -> int:
        return SLOTS[key]

    def refresh(self) -> None:
        """The slot map, as the nodes' owners are now: ``nodes_manager.initialize()``."""
        self.refreshes += 1
        self.slots_cache = {SLOTS[k]: [self.nodes[port]] for k, port in self.owner.items()}
        for key in self.moves_on:  # ...and the map is stale again
            self.owner[key] = self.owner[key] % len(PORTS) + 1

    initialize = refresh

    def get_node(self, host: str, port: int) -> FakeNode | None:
        assert host == "127.0.0.1"
        return self.nodes.get(port)

    def get_node_from_key(self, key: str) -> FakeNode:
        return self.slots_cache[SLOTS[key]][0]

    def get_redis_connection(self, node: FakeNode) -> FakeNode:
        return node

    # -- the nodes --
    def answer(self, port: int, commands: list[Command]) -> list[Any]:
        self.writes.append((port, commands))
        if port in self.down:
            raise RedisConnectionError(f"Connection refused (127.0.0.1:{port})")
        asking = False
        replies: list[Any] = []
        for command in commands:
            if command[0] == "ASKING":
                asking = True
                replies.append(b"OK")
                continue
            if command[0] == "WAIT":
                replies.append(self.acks[port])
                continue
            key, name = command[3], command[4]
            owner, target = self.owner[key], self.migrating.get(key)
            if (port == owner and target is None) or (asking and port == target):
                replies.append(ran(f"{name}@{port}"))
            elif port == owner:
                replies.append(AskError(f"{SLOTS[key]} 127.0.0.1:{target}"))
            else:
                replies.append(MovedError(f"{SLOTS[key]} 127.0.0.1:{owner}"))
        return replies

    def sent(self, port: int | None = None) -> list[str]:
        """The names of the calls written (to node ``port``), in order, each time sent."""
        return [
            str(command[4])
            for node, commands in self.writes
            if port in (None, node)
            for command in commands
            if command[0] == "EVALSHA"
        ]


class FakeNode:
    """A node: its ``name``, its connection pool (for the batches: packed bytes, read
    back one reply at a time) and its client's ``pipeline`` (for send_routed)."""

    def __init__(self, cluster: FakeCluster, port: int) -> None:
        self.cluster, self.port = cluster, port
        self.name = f"127.0.0.1:{port}"
        self.connection_pool = self
        self.stack: list[Command] = []

    def get_connection(self) -> FakeConnection:
        return FakeConnection(self)

    def release(self, connection: FakeConnection) -> None:
        pass

    def pipeline(self, transaction: bool = True) -> FakeNode:
        assert not transaction
        return FakeNode(self.cluster, self.port)

    def execute_command(self, *args: Any) -> None:
        self.stack.append(args)

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        assert not raise_on_error
        gevent.sleep(0.005)
        return self.cluster.answer(self.port, self.stack)

    async def execute_pipeline(self, commands: list[Any]) -> bool:
        """As an asyncio ClusterNode's: one write; replies, error replies too, as results."""
        await asyncio.sleep(0.005)
        for command, reply in zip(
            commands, self.cluster.answer(self.port, [c.args for c in commands]), strict=True
        ):
            command.result = reply
        return False


class FakeConnection:
    def __init__(self, node: FakeNode) -> None:
        self.node = node
        self.retry = self
        self.replies: deque[Any] = deque()

    def call_with_retry(self, do: Any, fail: Any) -> Any:
        return do()

    def send_packed_command(self, packed: list[bytes], check_health: bool = True) -> None:
        reader = hiredis.Reader(encoding="utf-8")
        reader.feed(b"".join(packed))
        commands: list[Command] = []
        while (command := reader.gets()) is not False:
            commands.append(tuple(command))
        self.replies.extend(self.node.cluster.answer(self.node.port, commands))

    def read_response(self) -> Any:
        gevent.sleep(0.005)  # a round trip: callers meanwhile queue for the next batch
        reply = self.replies.popleft()
        if isinstance(reply, Exception):
            raise reply
        return reply


def pipeline_on(cluster: FakeCluster, connections: int = 1) -> ClusterAutoPipeline:
    pipeline = ClusterAutoPipeline(cluster, connections)  # type: ignore[arg-type]
    pipeline.sender.scripts.cluster = True  # as for a redis-py cluster client: EVALSHA
    return pipeline


def send_all(pipeline: ClusterAutoPipeline, calls: list[ScriptCall[Any]]) -> list[Any]:
    """Each call from its own greenlet, at once; each one's result or error, in order."""

    def one(call: ScriptCall[Any]) -> Any:
        try:
            return pipeline.send(call)
        except Exception as exc:
            return exc

    callers = [gevent.spawn(one, call) for call in calls]
    gevent.joinall(callers, timeout=10, raise_error=True)
    assert pipeline.drain(timeout=5)
    return [caller.value for caller in callers]


def test_calls_are_batched_per_primary_by_their_keys_slot_one_write_per_node_per_round() -> None:
    cluster = FakeCluster(a=1, b=2, c=3)
    pipeline = pipeline_on(cluster)
    keys = [A, B, C] * 10
    calls = [call_on(key, f"J{i}") for i, key in enumerate(keys)]
    answers = send_all(pipeline, calls)
    assert answers == [f"J{i}@{cluster.owner[key]}" for i, key in enumerate(keys)]
    for port, commands in cluster.writes:  # every write holds only its node's calls
        assert {cluster.owner[command[3]] for command in commands} == {port}
    assert sorted(port for port, _ in cluster.writes) == [1, 2, 3]  # one round each
    assert sorted(cluster.sent()) == sorted(f"J{i}" for i in range(30))  # each once
    assert cluster.refreshes == 0
    # What bench_locust.py --batches reads: the batches sent and the calls in them.
    assert (pipeline.batches, pipeline.batched) == (len(cluster.writes), 30)


def test_moved_refreshes_the_map_and_sends_only_the_moved_calls_again_to_the_new_owner() -> None:
    cluster = FakeCluster(a=1, b=1)
    pipeline = pipeline_on(cluster)
    cluster.owner[B] = 2  # b's slot moved to node 2; the client's map still says node 1
    calls = [call_on(A if i % 2 else B, f"J{i}") for i in range(10)]
    answers = send_all(pipeline, calls)
    assert answers == [f"J{i}@{1 if i % 2 else 2}" for i in range(10)]
    moved = [f"J{i}" for i in range(0, 10, 2)]
    assert cluster.sent(1) == [f"J{i}" for i in range(10)]  # one batch on node 1
    assert cluster.sent(2) == moved  # then b's calls only, once each, on node 2
    assert cluster.refreshes == 1
    # The map is fresh: b's calls now go straight to node 2, in a batch of its own.
    cluster.writes.clear()
    assert send_all(pipeline, [call_on(B, "K"), call_on(A, "L")]) == ["K@2", "L@1"]
    assert sorted((port, [c[4] for c in commands]) for port, commands in cluster.writes) == [
        (1, ["L"]),
        (2, ["K"]),
    ]
    assert cluster.refreshes == 1


def test_ask_sends_the_call_to_the_node_named_after_asking_without_a_refresh() -> None:
    cluster = FakeCluster(a=1, b=1)
    pipeline = pipeline_on(cluster)
    cluster.migrating[B] = 3  # b's slot is moving from node 1 to node 3
    answers = send_all(pipeline, [call_on(A, "J1"), call_on(B, "J2")])
    assert answers == ["J1@1", "J2@3"]
    assert [(port, [c[0] for c in commands]) for port, commands in cluster.writes] == [
        (1, ["EVALSHA", "EVALSHA"]),
        (3, ["ASKING", "EVALSHA"]),
    ]
    assert cluster.sent(3) == ["J2"] and cluster.refreshes == 0


def test_a_call_still_redirected_after_route_attempts_raises_cluster_error_alone() -> None:
    cluster = FakeCluster(a=1, b=1)
    pipeline = pipeline_on(cluster)
    cluster.owner[B] = 2
    cluster.moves_on = {B}  # every refresh finds b's slot moved on again
    answers = send_all(pipeline, [call_on(A, "J1"), call_on(B, "J2")])
    assert isinstance(answers[1], ClusterError) and "after 3 attempts" in str(answers[1])
    assert answers[0] == "J1@1"  # its batch-mate was answered all the same
    assert cluster.sent() == ["J1", "J2", "J2", "J2"]  # J2: the batch, then 2 more sends
    assert cluster.sent().count("J2") == ROUTE_ATTEMPTS


def test_a_round_cut_off_is_sent_again_where_the_refreshed_map_says_and_errors_are_typed() -> None:
    cluster = FakeCluster(a=1, b=1)
    pipeline = pipeline_on(cluster)
    cluster.down = {1}
    cluster.owner[A] = cluster.owner[B] = 2  # node 1 died; its replica, node 2, took over
    assert send_all(pipeline, [call_on(A, "J1"), call_on(B, "J2")]) == ["J1@2", "J2@2"]
    assert cluster.sent(2) == ["J1", "J2"] and cluster.refreshes == 1

    cluster = FakeCluster(a=1)
    pipeline = pipeline_on(cluster)
    cluster.down = {1}  # no failover: the refreshed map still names the dead node
    (answer,) = send_all(pipeline, [call_on(A, "J1")])
    assert isinstance(answer, RedisConnectionError) and "127.0.0.1:1" in str(answer)
    assert [port for port, _ in cluster.writes] == [1] * ROUTE_ATTEMPTS


def test_a_resent_writing_call_gets_the_rounds_wait_on_its_new_node() -> None:
    cluster = FakeCluster(a=1, b=1)
    pipeline = pipeline_on(cluster)
    pipeline.sender.require_replicas(1, 200)
    cluster.owner[B] = 2
    cluster.acks[2] = 0  # node 2's replica did not acknowledge in time
    answers = send_all(pipeline, [call_on(B, "J1")])
    assert [(port, [c[0] for c in commands]) for port, commands in cluster.writes] == [
        (1, ["EVALSHA", "WAIT"]),
        (2, ["EVALSHA", "WAIT"]),  # the WAIT went with the call, on the node that ran it
    ]
    assert isinstance(answers[0], NotConfirmed) and answers[0].result == "J1@2"


@pytest.mark.parametrize("acks", [1, 0])
def test_the_rounds_wait_reply_stands_for_the_fewest_replicas_of_its_nodes(acks: int) -> None:
    cluster = FakeCluster(a=1, b=1)
    pipeline = pipeline_on(cluster)
    pipeline.sender.require_replicas(1, 200)
    cluster.owner[B] = 2
    cluster.acks[2] = acks
    answers = send_all(pipeline, [call_on(A, "J1"), call_on(B, "J2")])
    confirmed = [not isinstance(answer, NotConfirmed) for answer in answers]
    assert confirmed == [bool(acks)] * 2  # one round, one WAIT reply: the fewest


class AsyncFakeCluster(FakeCluster):
    """The same cluster, as a ``redis.asyncio`` cluster client sees it."""

    def __init__(self, **owners: int) -> None:
        super().__init__(**owners)
        self.nodes_manager = AsyncSlotMap(self)  # type: ignore[assignment]

    async def initialize(self) -> None:  # type: ignore[override]
        """The client's own: at once, its slot map being there."""


class AsyncSlotMap:
    def __init__(self, cluster: FakeCluster) -> None:
        self.cluster = cluster

    @property
    def slots_cache(self) -> dict[int, list[FakeNode]]:
        return self.cluster.slots_cache

    async def initialize(self) -> None:
        self.cluster.refresh()


def send_all_async(cluster: AsyncFakeCluster, calls: list[ScriptCall[Any]]) -> list[Any]:
    pipeline = AutoPipeline(cluster)
    pipeline.sender.scripts.cluster = True

    async def run() -> list[Any]:
        return await asyncio.gather(*map(pipeline.send, calls), return_exceptions=True)

    return asyncio.run(run())


def test_asyncio_calls_are_batched_per_primary_one_write_per_node_per_round() -> None:
    cluster = AsyncFakeCluster(a=1, b=2, c=3)
    keys = [A, B, C] * 10
    answers = send_all_async(cluster, [call_on(key, f"J{i}") for i, key in enumerate(keys)])
    assert answers == [f"J{i}@{cluster.owner[key]}" for i, key in enumerate(keys)]
    for port, commands in cluster.writes:
        assert {cluster.owner[command[3]] for command in commands} == {port}
    assert sorted(port for port, _ in cluster.writes) == [1, 2, 3]
    assert sorted(cluster.sent()) == sorted(f"J{i}" for i in range(30))


def test_asyncio_moved_and_ask_send_only_the_redirected_calls_again() -> None:
    cluster = AsyncFakeCluster(a=1, b=1, c=1)
    cluster.owner[B] = 2  # moved: the map still says node 1
    cluster.migrating[C] = 3  # moving to node 3: ASK
    calls = [call_on(key, f"J{i}") for i, key in enumerate([A, B, C] * 3)]
    answers = send_all_async(cluster, calls)
    assert answers == [f"J{i}@{port}" for i, port in enumerate([1, 2, 3] * 3)]
    assert cluster.sent(1) == [f"J{i}" for i in range(9)]  # the batch, once
    assert cluster.sent(2) == ["J1", "J4", "J7"] and cluster.sent(3) == ["J2", "J5", "J8"]
    assert all(commands[0] == ("ASKING",) for port, commands in cluster.writes if port == 3)
    assert cluster.refreshes == 1


def test_asyncio_a_call_still_redirected_after_route_attempts_raises_alone() -> None:
    cluster = AsyncFakeCluster(a=1, b=1)
    cluster.owner[B] = 2
    cluster.moves_on = {B}
    answers = send_all_async(cluster, [call_on(A, "J1"), call_on(B, "J2")])
    assert answers[0] == "J1@1"
    assert isinstance(answers[1], ClusterError) and "after 3 attempts" in str(answers[1])
    assert cluster.sent().count("J2") == ROUTE_ATTEMPTS


def test_asyncio_a_round_cut_off_is_sent_again_where_the_refreshed_map_says() -> None:
    cluster = AsyncFakeCluster(a=1, b=1)
    cluster.down = {1}
    cluster.owner[A] = cluster.owner[B] = 2  # node 1 died; its replica, node 2, took over
    assert send_all_async(cluster, [call_on(A, "J1"), call_on(B, "J2")]) == ["J1@2", "J2@2"]
    assert cluster.sent(2) == ["J1", "J2"] and cluster.refreshes == 1
