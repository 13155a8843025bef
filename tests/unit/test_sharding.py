"""A pool split into shards (``LobbyStore(..., shards=N)``): routing, fan-outs, the audit."""

from __future__ import annotations

import fakeredis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lobbycore import InvalidInput, LobbyStore, PartySpansShards, SoldOut, pool_prefix
from lobbycore._keys import PoolKeys
from lobbycore._sharding import shard_of, split_seats
from lobbycore.admin import delete_pool
from lobbycore.audit import check, snapshot
from lobbycore.violations import Violation
from tests.conftest import Blocking
from tests.unit.conftest import StoreFactory

SHARDS = 3


def users_by_shard(n_per_shard: int, shards: int = SHARDS, prefix: str = "u") -> list[list[str]]:
    """User ids grouped by their shard, ``n_per_shard`` of each."""
    groups: list[list[str]] = [[] for _ in range(shards)]
    i = 0
    while min(len(g) for g in groups) < n_per_shard:
        user = f"{prefix}{i}"
        group = groups[shard_of(user, shards)]
        if len(group) < n_per_shard:
            group.append(user)
        i += 1
    return groups


@pytest.fixture
def sharded(make_store: StoreFactory) -> Blocking:
    return make_store(pool="hot", shards=SHARDS)


def test_each_user_is_served_by_their_own_shard(sharded: Blocking) -> None:
    for user in [f"buyer-{i}" for i in range(60)]:
        lobby = sharded.find_or_create_lobby(user, 4)
        shard = sharded.store.shard_of(user)
        assert lobby.id.endswith(f".{shard}")
        assert sharded.lobby_of(user) == lobby
        assert sharded.get_lobby(lobby.id) == lobby
    # Lobbies only ever hold users of their own shard, and every shard got some.
    lobbies = snapshot_lobbies(sharded)
    for lobby_id, users in lobbies.items():
        assert {str(shard_of(u, SHARDS)) for u in users} == {lobby_id.rsplit(".", 1)[1]}
    assert {lobby_id.rsplit(".", 1)[1] for lobby_id in lobbies} == {"0", "1", "2"}


def snapshot_lobbies(store: Blocking) -> dict[str, tuple[str, ...]]:
    client = store.store.client
    sync = fakeredis.FakeRedis(server=client.connection_pool.connection_kwargs["server"])
    snap = snapshot(sync, store.pool, shards=store.store.shards)
    return {lid: lobby.users for lid, lobby in snap.lobbies.items()}


def test_shards_fill_independently_and_keep_their_guarantees(sharded: Blocking) -> None:
    groups = users_by_shard(5)
    for group in groups:
        lobbies = [sharded.find_or_create_lobby(u, 2) for u in group]
        # Per shard: oldest open lobby first, capacity 2.
        assert [len(lobby.users) for lobby in lobbies] == [1, 2, 1, 2, 1]
        assert lobbies[0].id == lobbies[1].id != lobbies[2].id
    assert sharded.find_or_create_lobby(groups[0][0], 9).users == tuple(groups[0][:2])
    stats = sharded.stats()
    assert stats.joins == 15
    assert stats.waiting_users == 15
    assert stats.full_lobbies == 6
    assert stats.open_lobbies == 3


def test_leave_and_booking_go_to_the_lobbys_shard(sharded: Blocking) -> None:
    a, b = users_by_shard(2)[2]
    lobby = sharded.find_or_create_lobby(a, 3)
    sharded.find_or_create_lobby(b, 3)
    after = sharded.leave_lobby(b)
    assert after is not None and after.users == (a,)
    booking = sharded.book_ticket(lobby.id, "req-1")
    assert booking.users == (a,)
    assert sharded.book_ticket(lobby.id, "req-1") == booking
    assert sharded.lobby_of(a) is None
    assert sharded.stats().bookings == 1


def test_a_party_within_one_shard_joins_together(sharded: Blocking) -> None:
    party = users_by_shard(3)[1]
    lobby = sharded.join_party(party, 4)
    assert lobby.users == tuple(party)
    assert lobby.id.endswith(".1")


def test_a_party_across_shards_is_refused_and_writes_nothing(sharded: Blocking) -> None:
    groups = users_by_shard(1)
    party = [groups[0][0], groups[1][0]]
    server_keys = key_count(sharded)
    with pytest.raises(PartySpansShards) as refused:
        sharded.join_party(party, 4)
    assert refused.value.shards == {party[0]: 0, party[1]: 1}
    assert key_count(sharded) == server_keys == 0


def key_count(store: Blocking) -> int:
    client = store.store.client
    server = client.connection_pool.connection_kwargs["server"]
    return len(fakeredis.FakeRedis(server=server).keys("*"))


def test_seats_are_split_over_shards_and_never_oversold(sharded: Blocking) -> None:
    sharded.set_seats(7)
    assert sharded.seats_left() == 7
    assert split_seats(7, SHARDS) == [3, 2, 2]
    # Shard 1 holds 2 seats: a lobby of 3 from shard 1 is sold out there.
    party = users_by_shard(3)[1]
    lobby = sharded.join_party(party, 3)
    with pytest.raises(SoldOut) as sold_out:
        sharded.book_ticket(lobby.id)
    assert (sold_out.value.seats_left, sold_out.value.requested) == (2, 3)
    # Shard 0 holds 3.
    party0 = users_by_shard(3)[0]
    sharded.book_ticket(sharded.join_party(party0, 3).id)
    assert sharded.seats_left() == 4
    sharded.set_seats(None)
    assert sharded.seats_left() is None


def test_events_of_all_shards_are_read_once_each_in_pages(sharded: Blocking) -> None:
    for user in [f"e{i}" for i in range(40)]:
        sharded.find_or_create_lobby(user, 3)
    everything = sharded.events(count=10_000)
    joined = [u for e in everything if e.type == "joined" for u in e.users]
    assert sorted(joined) == sorted(f"e{i}" for i in range(40))
    paged, after = [], "0-0"
    while page := sharded.events(after=after, count=7):
        paged.extend(page)
        after = page[-1].id
    assert [e.id for e in paged] == [e.id for e in everything]
    # Each event still tells its time, and events of one shard keep their stream order.
    assert all(e.at > 0 for e in paged)
    for shard in range(SHARDS):
        own = [e.id.split("/")[0] for e in paged if e.id.split("/")[1] == str(shard)]
        assert own == sorted(own, key=lambda s: tuple(map(int, s.split("-"))))


def test_an_event_cursor_of_another_shard_count_is_refused(sharded: Blocking) -> None:
    with pytest.raises(InvalidInput, match="2 shards, not 3"):
        sharded.events(after="1-0/0/1-0,0-0")


@pytest.mark.parametrize(
    "lobby_id",
    [
        "01ARZ3NDEKTSV4RRFFQ69G5FAV",  # a plain pool's id
        "01ARZ3NDEKTSV4RRFFQ69G5FAV.3",  # no shard 3 of 3
        "01ARZ3NDEKTSV4RRFFQ69G5FAV.-1",
        "01ARZ3NDEKTSV4RRFFQ69G5FAV.٣",  # a non-ASCII digit
        "not-a-ulid.1",
        None,
        7,
    ],
)
def test_lobby_ids_from_elsewhere_are_invalid_input(sharded: Blocking, lobby_id: object) -> None:
    with pytest.raises(InvalidInput):
        sharded.book_ticket(lobby_id)
    with pytest.raises(InvalidInput):
        sharded.get_lobby(lobby_id)
    assert key_count(sharded) == 0


@pytest.mark.parametrize("shards", [0, -1, 1025, True, 2.0, "2", None])
def test_bad_shard_counts(make_store: StoreFactory, shards: object) -> None:
    with pytest.raises(InvalidInput, match="shards"):
        make_store(shards=shards)


def test_sub_pools_never_share_a_prefix_with_another_pool() -> None:
    prefixes = [pool_prefix("a#0"), pool_prefix("a"), pool_prefix("a#0", 0, 2)]
    prefixes += [pool_prefix(pool, i, n) for pool in ("a", "a#1") for n in (2, 4) for i in range(n)]
    assert len(set(prefixes)) == len(prefixes)
    # No prefix is the start of another one (a SCAN of one pool never sees another's keys).
    for p in prefixes:
        assert [q for q in prefixes if q != p and q.startswith(p)] == []


def test_sub_pools_have_distinct_hash_tags() -> None:
    tags = {pool_prefix("hot", i, 8).split("{")[1].split("}")[0] for i in range(8)}
    assert len(tags) == 8


def test_audit_of_a_sharded_pool_checks_every_shard() -> None:
    client = fakeredis.FakeRedis()
    store = LobbyStore(client, pool="hot", lobby_ttl=None, shards=SHARDS)
    store.set_seats(100)
    for user in [f"a{i}" for i in range(30)]:
        store.find_or_create_lobby(user, 4)
    report = check(snapshot(client, "hot", shards=SHARDS), initial_seats=100)
    assert report.ok, report.findings
    assert report.figures["waiting"] == 30
    # A user indexed in a shard that is not theirs is found...
    wrong = next(s for s in range(SHARDS) if s != shard_of("a0", SHARDS))
    client.hset(
        PoolKeys.for_pool("hot", wrong, SHARDS).user_index(0), "a0", "01ARZ3NDEKTSV4RRFFQ69G5FAV"
    )
    report = check(snapshot(client, "hot", shards=SHARDS), initial_seats=100)
    assert [v.violation for v in report.findings] == [Violation.INDEX_MISMATCH]
    # ...and the same pool read as unsharded is a different (empty) pool.
    assert snapshot(client, "hot").lobbies == {}
    assert delete_pool(client, "hot", shards=SHARDS) > 0
    assert client.keys("*") == []


def test_unsharded_stores_keep_their_plain_ids(store: Blocking) -> None:
    lobby = store.find_or_create_lobby("solo", 2)
    assert "." not in lobby.id
    assert store.store.shards == 1
    assert store.store.shard_of("solo") == 0
    assert "shards" not in repr(store.store)


OPS = st.lists(
    st.tuples(
        st.sampled_from(["join", "leave", "book", "party"]),
        st.integers(0, 11),
        st.sampled_from([2, 3]),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS)
def test_a_sharded_pool_behaves_as_independent_pools_one_per_shard(
    ops: list[tuple[str, int, int]],
) -> None:
    """Differential check: every answer of a 3-shard pool equals the answer of the user's
    own plain pool (one per shard, on another server) given the same operations."""
    sharded = LobbyStore(fakeredis.FakeRedis(), pool="hot", lobby_ttl=None, shards=SHARDS)
    plain_server = fakeredis.FakeServer()
    plain = [
        LobbyStore(fakeredis.FakeRedis(server=plain_server), pool=f"p{i}", lobby_ttl=None)
        for i in range(SHARDS)
    ]
    groups = users_by_shard(4)
    users = [u for g in groups for u in g]
    plain_id: dict[str, str] = {}  # sharded lobby id -> the plain pool's id for it

    def outcome(store: LobbyStore, op: str, user: str, size: int) -> object:
        try:
            if op == "join":
                return store.find_or_create_lobby(user, size)
            if op == "leave":
                return store.leave_lobby(user)
            if op == "party":
                group = groups[shard_of(user, SHARDS)]
                start = group.index(user)
                return store.join_party([group[start], group[(start + 1) % 4]], size)
            lobby = store.lobby_of(user)
            return None if lobby is None else store.book_ticket(lobby.id, "r")
        except Exception as exc:  # the same error type on both sides is the same answer
            return type(exc).__name__

    def shape(answer: object) -> object:
        users_of = getattr(answer, "users", None)
        return answer if users_of is None else (type(answer).__name__, users_of)

    for op, index, size in ops:
        user = users[index]
        got = outcome(sharded, op, user, size)
        want = outcome(plain[shard_of(user, SHARDS)], op, user, size)
        assert shape(got) == shape(want), (op, user, size)
        if hasattr(got, "id") and hasattr(want, "id"):
            assert plain_id.setdefault(got.id, want.id) == want.id
    total = sharded.stats()
    parts = [p.stats() for p in plain]
    assert total.joins == sum(p.joins for p in parts)
    assert total.waiting_users == sum(p.waiting_users for p in parts)
    assert total.bookings == sum(p.bookings for p in parts)
    assert check(snapshot(sharded.client, "hot", shards=SHARDS)).ok
