"""Rollback detection without I/O and on fakeredis: every reply carries the pool's write
sequence, a reply older than the floor its call carried raises PoolRolledBack, and a script
sent a floor above the pool's refuses before any write; replays still get their answer."""

from __future__ import annotations

import sys
import threading

import fakeredis
import pytest

from lobbycore import LobbyStore, PoolRolledBack, PoolStateLost, pool_prefix
from lobbycore._protocol import WriteSequences, parse_optional_lobby
from lobbycore.transport import ScriptCall
from tests.damage import dump

META = f"{pool_prefix('rb')}meta"


def test_a_reply_older_than_the_calls_floor_raises_and_stays_refused() -> None:
    sequences = WriteSequences()
    key = f"{pool_prefix('rb')}stats"
    call = ScriptCall("lookup", (key,), ("epoch-1", 7, "user", "u"), parse_optional_lobby)
    assert sequences.parse(call, [9, [b"none"]]) is None
    assert sequences.floor(key) == 9
    with pytest.raises(PoolRolledBack) as raised:
        sequences.parse(call, [6, [b"none"]])  # a read-only call's reply, from the past
    assert isinstance(raised.value, PoolStateLost)
    assert (raised.value.key, raised.value.seen, raised.value.sequence) == (META, 7, 6)
    assert raised.value.epoch == "epoch-1"
    with pytest.raises(PoolRolledBack):
        sequences.floor(key)  # the next call is refused before it is sent


def test_replies_of_concurrent_calls_may_come_in_any_order() -> None:
    # Each reply is checked against the floor its own call carried, not the highest seen.
    sequences = WriteSequences()
    key = "{p}:stats"
    first = ScriptCall("lookup", (key,), ("e", 3, "user", "u"), parse_optional_lobby)
    second = ScriptCall("lookup", (key,), ("e", 3, "user", "v"), parse_optional_lobby)
    sequences.parse(second, [5, [b"none"]])
    sequences.parse(first, [4, [b"none"]])
    assert sequences.floor(key) == 5


def test_the_script_refuses_a_rolled_back_pool_before_any_write() -> None:
    client = fakeredis.FakeRedis()
    store = LobbyStore(client, pool="rb", lobby_ttl=None)
    store.set_seats(10)
    lobby = store.join_party(["a", "b"], 2)
    raw = client.hget(META, "wseq")
    assert isinstance(raw, bytes)
    seen = int(raw)
    assert seen == 2  # set_seats and the join each added one
    client.hset(META, "wseq", seen - 1)  # the pool went back one write
    before = dump(client, "rb")
    for call in (
        lambda: store.book_ticket(lobby.id, "r"),
        lambda: store.find_or_create_lobby("c", 2),
        lambda: store.leave_lobby("a"),
        lambda: store.set_seats(5),
        lambda: store.sweep_expired(),
    ):
        with pytest.raises(PoolRolledBack, match="write sequence 1, older than 2"):
            call()
        assert dump(client, "rb") == before
    # Sticky: even once the sequence is past the floor again, this store refuses.
    client.hset(META, "wseq", seen + 5)
    with pytest.raises(PoolRolledBack):
        store.stats()
    # A new store knows nothing older: it goes on.
    assert LobbyStore(client, pool="rb", lobby_ttl=None).book_ticket(lobby.id, "r").users == (
        "a",
        "b",
    )


def test_a_replayed_call_with_an_older_floor_gets_its_first_answer() -> None:
    client = fakeredis.FakeRedis()
    store = LobbyStore(client, pool="rb", lobby_ttl=None)
    store.find_or_create_lobby("x", 4)
    call = store._with_epoch(store._protocol.find_or_create_lobby("a", 2))
    first = store.transport.send(call)
    store.find_or_create_lobby("b", 2)  # the pool's sequence moves on
    raw = client.hget(META, "wseq")
    assert isinstance(raw, bytes) and call.args[1] < int(raw)  # the call's floor is older
    again = store.transport.send(call)  # the same call, its reply lost: same floor
    assert again.id == first.id and again.users == ("a", "b")  # placed once
    assert store.lobby_of("a") == again


def test_a_new_pool_and_an_opened_store_learn_the_sequence() -> None:
    client = fakeredis.FakeRedis()
    writer = LobbyStore(client, pool="rb", lobby_ttl=None)
    for user in ("a", "b", "c"):
        writer.find_or_create_lobby(user, 4)
    reader = LobbyStore(client, pool="rb", lobby_ttl=None)
    reader.lobby_of("a")  # its first call learns the sequence with the epoch
    client.hset(META, "wseq", 1)
    before = dump(client, "rb")
    with pytest.raises(PoolRolledBack):
        reader.find_or_create_lobby("d", 4)
    assert dump(client, "rb") == before


def test_a_rollback_in_one_shard_leaves_the_others_going() -> None:
    client = fakeredis.FakeRedis()
    store = LobbyStore(client, pool="rbs", lobby_ttl=None, shards=2)
    users = {store.shard_of(f"u{i}"): f"u{i}" for i in range(20)}
    for user in users.values():
        store.find_or_create_lobby(user, 4)
    meta0 = f"{pool_prefix('rbs', 0, 2)}meta"
    client.hset(meta0, "wseq", 0)
    with pytest.raises(PoolRolledBack):
        store.lobby_of(users[0])
    assert store.lobby_of(users[1]) is not None


class _Lowered(dict[str, int]):
    """The highest-seen map, noting every time a stored sequence went down."""

    lowered = 0

    def __setitem__(self, key: str, value: int) -> None:
        if value < self.get(key, 0):
            type(self).lowered += 1
        super().__setitem__(key, value)


def test_threads_sharing_a_store_never_lower_the_highest_sequence_seen() -> None:
    # Each thread's replies rise; interleaved compare-and-set without a lock lowered the
    # highest seen 2 to 12 times in 800,000 replies, which a rollback of exactly those writes
    # would then not be refused for.
    sequences = WriteSequences()
    sequences.seen = _Lowered()
    _Lowered.lowered = 0
    key = "{p}:stats"
    call = ScriptCall("lookup", (key,), ("e", 0, "user", "u"), parse_optional_lobby)
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:

        def replies(start: int) -> None:
            for sequence in range(start, 400_000, 4):
                sequences.parse(call, [sequence, [b"none"]])

        threads = [threading.Thread(target=replies, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(before)
    assert _Lowered.lowered == 0
    assert sequences.floor(key) == 399_999
