"""Rollback detection on real processes: a replica whose link to its primary was cut, promoted
after the primary was killed, lost acknowledged writes; the running store, moved to it, refuses the rolled-back
pool (PoolRolledBack) and writes nothing, so no seat is resold and no booked lobby booked
again by it. A store made afterwards cannot know (documented in PoolRolledBack)."""

from __future__ import annotations

import time

import pytest
import redis

from lobbycore import LobbyStore, PoolRolledBack, PoolStateLost
from lobbysim.testing import RedisServer, free_port
from tests.damage import dump


def wait_in_sync(replica: redis.Redis, primary: redis.Redis) -> None:
    deadline = time.monotonic() + 30
    while True:
        info = replica.info("replication")
        offset = primary.info("replication")["master_repl_offset"]
        if info.get("master_link_status") == "up" and info.get("slave_repl_offset") == offset:
            return
        assert time.monotonic() < deadline
        time.sleep(0.05)


def pair(store: LobbyStore, name: str) -> list[str]:
    """Two users of one shard (a party must share one)."""
    mate = next(
        f"{name}-{j}" for j in range(100) if store.shard_of(f"{name}-{j}") == store.shard_of(name)
    )
    return [name, mate]


def rolled_back(call: object) -> PoolRolledBack:
    with pytest.raises(PoolRolledBack) as raised:
        call()  # type: ignore[operator]
    assert isinstance(raised.value, PoolStateLost)
    assert raised.value.sequence < raised.value.seen
    assert "nothing was written" in str(raised.value)
    return raised.value


@pytest.mark.parametrize("shards", [1, 2])
def test_a_promoted_lagging_replica_is_refused_by_the_running_store(shards: int) -> None:
    with RedisServer() as primary, RedisServer() as replica:
        client = primary.client(socket_timeout=10)
        follower = replica.client(socket_timeout=10)
        follower.replicaof("127.0.0.1", str(primary.port))
        store = LobbyStore(client, pool="fo", lobby_ttl=None, shards=shards)
        store.set_seats(100)
        early = [store.join_party(pair(store, f"a{i}"), 2) for i in range(4)]
        store.book_ticket(early[0].id, "early")
        wait_in_sync(follower, client)

        # The replication link is cut (the replica is pointed at a port nobody serves: it
        # keeps its data and stays a read-only replica): what the store does meanwhile is
        # acknowledged by the primary and never reaches the replica; then the primary dies.
        follower.replicaof("127.0.0.1", str(free_port()))
        late = [store.join_party(pair(store, f"c{i}"), 2) for i in range(4)]
        booked = store.book_ticket(early[1].id, "lost-booking")
        joined = store.find_or_create_lobby("lost-join", 4)
        assert primary.process is not None
        primary.process.kill()  # SIGKILL
        primary.process.wait()
        follower.replicaof("NO", "ONE")

        # The running store is moved to the promoted replica.
        client.connection_pool = redis.ConnectionPool(
            host="127.0.0.1", port=replica.port, socket_timeout=10
        )
        before = dump(follower, "fo")
        rolled_back(lambda: store.book_ticket(booked.lobby_id, "again"))  # not booked twice
        rolled_back(lambda: store.book_ticket(late[0].id, "resale"))
        rolled_back(lambda: store.find_or_create_lobby("lost-join", 4))
        rolled_back(lambda: store.find_or_create_lobby("newcomer", 2))
        rolled_back(lambda: store.lobby_of("lost-join"))  # a read refuses too
        assert dump(follower, "fo") == before  # nothing written by any of them
        assert joined.users == ("lost-join",)

        # A store made now never saw the lost writes: it finds a consistent pool.
        fresh = LobbyStore(follower, pool="fo", lobby_ttl=None, shards=shards)
        assert fresh.lobby_of("lost-join") is None
        assert fresh.stats().bookings == 1
        # The running store stays refused even once new writes carry the sequence past
        # what it had seen.
        for i in range(20):
            fresh.find_or_create_lobby(f"n{i}", 4)
        rolled_back(lambda: store.book_ticket(booked.lobby_id, "again"))
        client.close()
        follower.close()
