"""Each semantic of the lobbycore contract, on fakeredis, for the sync and async stores."""

from __future__ import annotations

import time

import pytest

from lobbycore import (
    AlreadyBooked,
    AlreadyInLobby,
    Booking,
    InvalidInput,
    JoinReplayTooLate,
    Lobby,
    LobbyError,
    LobbyNotFound,
    SoldOut,
)
from lobbycore.audit import check, snapshot
from tests.conftest import Blocking

from .conftest import StoreFactory


def fill(store: Blocking, n: int, max_users: int, prefix: str = "u") -> list[Lobby]:
    return [store.find_or_create_lobby(f"{prefix}{i}", max_users) for i in range(n)]


def test_lobby_fields(store: Blocking) -> None:
    before = int(time.time() * 1000) - 5_000
    lobby = store.find_or_create_lobby("alice", 4)
    assert len(lobby.id) == 26 and len(lobby.session_id) == 26 and lobby.id != lobby.session_id
    assert lobby.users == ("alice",)
    assert lobby.max_users == 4
    assert lobby.created_at >= before
    assert not lobby.is_full
    assert store.get_lobby(lobby.id) == lobby
    assert store.lobby_of("alice") == lobby


# 1. Idempotent join
def test_join_is_idempotent_whatever_max_users(store: Blocking) -> None:
    first = store.find_or_create_lobby("alice", 4)
    again = store.find_or_create_lobby("alice", 7)
    assert again == first
    assert store.stats().joins == 1


# 2. Capacity, and capacities do not mix
def test_capacity_is_never_exceeded_and_capacities_do_not_mix(store: Blocking) -> None:
    lobbies = fill(store, 10, 3)
    assert [len(lobby.users) for lobby in lobbies] == [1, 2, 3, 1, 2, 3, 1, 2, 3, 1]
    other = store.find_or_create_lobby("x", 5)
    assert other.id not in {lobby.id for lobby in lobbies}
    assert other.users == ("x",)
    assert store.get_lobby(lobbies[-1].id).users == ("u9",)


# 3. Fill oldest first; at most one non-full lobby per capacity with joins only
def test_fill_oldest_first(store: Blocking) -> None:
    lobbies = fill(store, 9, 3)
    assert len({lobby.id for lobby in lobbies}) == 3
    first = lobbies[0].id
    store.leave_lobby("u1")  # first lobby reopens
    assert store.find_or_create_lobby("late", 3).id == first
    stats = store.stats()
    assert stats.open_lobbies == 0 and stats.full_lobbies == 3


def test_joins_only_leave_at_most_one_open_lobby_per_capacity(store: Blocking) -> None:
    for i in range(50):
        store.find_or_create_lobby(f"a{i}", 4)
        store.find_or_create_lobby(f"b{i}", 7)
    stats = store.stats()
    assert stats.open_lobbies == 2  # 50 % 4 and 50 % 7 are both non-zero
    assert stats.waiting_users == 100


# 4. One lobby per user, no lost join
def test_user_stays_in_returned_lobby(store: Blocking) -> None:
    lobbies = fill(store, 8, 4)
    for i, lobby in enumerate(lobbies):
        assert store.lobby_of(f"u{i}").id == lobby.id
    assert store.lobby_of("nobody") is None


# 5. Leave
def test_leave_returns_lobby_after_leave(store: Blocking) -> None:
    lobby = fill(store, 3, 4)[-1]
    after = store.leave_lobby("u1")
    assert after is not None and after.id == lobby.id and after.users == ("u0", "u2")
    assert store.lobby_of("u1") is None
    assert store.leave_lobby("u1") is None  # not in a lobby: None, nothing changes


def test_leave_deletes_emptied_lobby(store: Blocking) -> None:
    lobby = store.find_or_create_lobby("solo", 4)
    assert store.leave_lobby("solo") is None
    assert store.get_lobby(lobby.id) is None
    assert store.stats().open_lobbies == 0
    with pytest.raises(LobbyNotFound):
        store.book_ticket(lobby.id)


def test_full_lobby_reopens_at_its_place(store: Blocking) -> None:
    lobbies = fill(store, 7, 2)  # three full lobbies, a fourth with u6
    second = lobbies[2].id
    store.leave_lobby("u3")  # second lobby reopens; it is older than u6's
    assert store.find_or_create_lobby("new", 2).id == second
    assert store.find_or_create_lobby("newer", 2).id == lobbies[6].id


# 6. Party join
def test_party_lands_together_in_oldest_lobby_with_room(store: Blocking) -> None:
    fill(store, 3, 4)  # lobby A: 3/4, room for 1
    store.find_or_create_lobby("x", 5)  # another capacity, ignored
    party = store.join_party(["p1", "p2"], 4)
    assert party.users == ("p1", "p2")  # A has no room for two: a new lobby
    solo = store.find_or_create_lobby("s", 4)
    assert len(solo.users) == 4  # the single join fills A, the oldest
    trio = store.join_party(["q1", "q2"], 4)
    assert trio.id == party.id and trio.users == ("p1", "p2", "q1", "q2")


def test_party_prefers_oldest_among_lobbies_with_room(store: Blocking) -> None:
    a = store.join_party(["a1", "a2", "a3", "a4"], 5)  # room for 1
    b = store.join_party(["b1", "b2", "b3", "b4", "b5"], 5)
    c = store.join_party(["c1", "c2"], 5)  # a has no room for two: new lobby, room for 3
    assert len({a.id, b.id, c.id}) == 3 and b.is_full
    store.leave_lobby("b1")
    store.leave_lobby("b2")  # b: room for 2, and older than c
    assert store.join_party(["d1", "d2"], 5).id == b.id
    assert store.join_party(["e1", "e2", "e3"], 5).id == c.id
    assert store.find_or_create_lobby("f", 5).id == a.id


def test_party_already_together_is_returned(store: Blocking) -> None:
    lobby = store.join_party(["a", "b", "c"], 4)
    assert store.join_party(["b", "a"], 4) == lobby
    assert store.stats().joins == 3


def test_party_with_a_member_elsewhere_is_refused_and_changes_nothing(store: Blocking) -> None:
    busy = store.find_or_create_lobby("busy", 4)
    before = store.stats()
    with pytest.raises(AlreadyInLobby) as info:
        store.join_party(["free", "busy"], 4)
    assert info.value.user_id == "busy" and info.value.lobby_id == busy.id
    assert store.lobby_of("free") is None
    assert store.stats() == before
    other = store.join_party(["o1", "o2", "o3", "o4"], 4)
    with pytest.raises(AlreadyInLobby):
        store.join_party(["busy", "o1"], 4)
    assert store.get_lobby(other.id) == other


def test_party_of_max_users_makes_a_full_lobby(store: Blocking) -> None:
    lobby = store.join_party([f"m{i}" for i in range(6)], 6)
    assert lobby.is_full and store.stats().full_lobbies == 1


# 7. Booking once only
def test_booking_deletes_lobby_and_frees_users(store: Blocking) -> None:
    lobby = fill(store, 3, 3)[-1]
    booking = store.book_ticket(lobby.id, "req-1")
    assert isinstance(booking, Booking)
    assert (booking.lobby_id, booking.session_id, booking.users, booking.request_id) == (
        lobby.id,
        lobby.session_id,
        lobby.users,
        "req-1",
    )
    assert booking.booked_at >= lobby.created_at
    assert store.get_lobby(lobby.id) is None and store.lobby_of("u0") is None
    again = store.find_or_create_lobby("u0", 3)
    assert again.id != lobby.id
    stats = store.stats()
    assert (stats.bookings, stats.booked_users, stats.waiting_users) == (1, 3, 1)


def test_rebooking_same_request_id_returns_booking_other_raises(store: Blocking) -> None:
    lobby = fill(store, 2, 2)[-1]
    booking = store.book_ticket(lobby.id, "req-1")
    assert store.book_ticket(lobby.id, "req-1") == booking
    with pytest.raises(AlreadyBooked) as info:
        store.book_ticket(lobby.id, "req-2")
    assert info.value.booking == booking
    with pytest.raises(AlreadyBooked):
        store.book_ticket(lobby.id)
    assert store.stats().bookings == 1


def test_booking_without_request_id_makes_one(store: Blocking) -> None:
    lobby = store.find_or_create_lobby("a", 4)  # not full: the caller decides
    booking = store.book_ticket(lobby.id)
    assert len(booking.request_id) == 26 and booking.users == ("a",)


def test_booking_unknown_lobby(store: Blocking) -> None:
    with pytest.raises(LobbyNotFound) as info:
        store.book_ticket("01ARZ3NDEKTSV4RRFFQ69G5FAV")
    assert info.value.lobby_id == "01ARZ3NDEKTSV4RRFFQ69G5FAV"


def test_bookings_stream_records_each_booking(make_store: StoreFactory) -> None:
    store = make_store(pool="stream")
    lobbies = fill(store, 6, 3)
    bookings = [store.book_ticket(lobbies[2].id), store.book_ticket(lobbies[5].id)]
    snap = snapshot_of(store)
    assert [(b.lobby_id, b.users, b.request_id) for b in snap.bookings] == [
        (b.lobby_id, b.users, b.request_id) for b in bookings
    ]


# 8. Inventory
def test_seats_are_taken_by_bookings_and_never_oversold(store: Blocking) -> None:
    assert store.seats_left() is None
    store.set_seats(5)
    assert store.seats_left() == 5
    lobbies = fill(store, 6, 3)
    store.book_ticket(lobbies[2].id)
    assert store.seats_left() == 2
    before = store.stats()
    with pytest.raises(SoldOut) as info:
        store.book_ticket(lobbies[5].id)
    assert (info.value.seats_left, info.value.requested) == (2, 3)
    assert store.stats() == before
    assert store.get_lobby(lobbies[5].id) is not None
    store.leave_lobby("u5")
    store.book_ticket(lobbies[5].id)
    assert store.seats_left() == 0
    store.set_seats(None)
    assert store.seats_left() is None


# 9. Expiry
def test_lobby_expires_after_ttl(make_store: StoreFactory) -> None:
    store = make_store(lobby_ttl=0.05)
    lobby = store.find_or_create_lobby("a", 4)
    store.find_or_create_lobby("b", 4)
    time.sleep(0.1)
    assert store.get_lobby(lobby.id) is None and store.lobby_of("a") is None  # reads hide it
    assert store.sweep_expired() == 1
    assert store.sweep_expired() == 0
    stats = store.stats()
    assert (stats.expired, stats.waiting_users, stats.open_lobbies) == (1, 0, 0)
    assert [e.type for e in store.events()][-1] == "expired"
    fresh = store.find_or_create_lobby("a", 4)
    assert fresh.id != lobby.id
    with pytest.raises(LobbyNotFound):
        store.book_ticket(lobby.id)


def test_expiry_happens_inside_normal_operations(make_store: StoreFactory) -> None:
    store = make_store(lobby_ttl=0.05)
    first = store.find_or_create_lobby("a", 4)
    time.sleep(0.1)
    second = store.find_or_create_lobby("b", 4)  # expires the first one on the way
    assert second.id != first.id and second.users == ("b",)
    assert store.stats().expired == 1


def test_no_ttl_means_never(make_store: StoreFactory) -> None:
    store = make_store(lobby_ttl=None)
    lobby = store.find_or_create_lobby("a", 4)
    assert store.sweep_expired() == 0 and store.get_lobby(lobby.id) == lobby


# 10. Events
def test_every_change_is_in_the_event_stream(store: Blocking) -> None:
    lobby = fill(store, 2, 2)[-1]
    store.leave_lobby("u0")
    store.find_or_create_lobby("u2", 2)
    store.book_ticket(lobby.id)
    events = store.events()
    assert [(e.type, e.size, e.users) for e in events] == [
        ("created", 0, ()),
        ("joined", 1, ("u0",)),
        ("joined", 2, ("u1",)),
        ("full", 2, ()),
        ("left", 1, ("u0",)),
        ("joined", 2, ("u2",)),
        ("full", 2, ()),
        ("booked", 0, ("u1", "u2")),
    ]
    assert {e.lobby_id for e in events} == {lobby.id}
    assert store.events(after=events[3].id, count=2) == events[4:6]
    assert all(e.at > 0 for e in events)


# 11. Bad input
@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("find_or_create_lobby", ("", 4)),
        ("find_or_create_lobby", ("a\0b", 4)),
        ("find_or_create_lobby", ("x" * 257, 4)),
        ("find_or_create_lobby", ("é" * 129, 4)),
        ("find_or_create_lobby", ("\ud800", 4)),
        ("find_or_create_lobby", (b"bytes", 4)),
        ("find_or_create_lobby", (None, 4)),
        ("find_or_create_lobby", ("a", 0)),
        ("find_or_create_lobby", ("a", 1001)),
        ("find_or_create_lobby", ("a", True)),
        ("find_or_create_lobby", ("a", 4.0)),
        ("find_or_create_lobby", ("a", "4")),
        ("join_party", ("ab", 4)),
        ("join_party", ([], 4)),
        ("join_party", (["a", "a"], 4)),
        ("join_party", (["a", "b", "c"], 2)),
        ("join_party", (["a", 1], 4)),
        ("leave_lobby", ("",)),
        ("lobby_of", (3,)),
        ("get_lobby", ("not-a-ulid",)),
        ("book_ticket", ("lobby",)),
        ("book_ticket", ("01ARZ3NDEKTSV4RRFFQ69G5FAV", "")),
        ("book_ticket", ("01ARZ3NDEKTSV4RRFFQ69G5FAV", "r\0")),
        ("set_seats", (-1,)),
        ("set_seats", (1.5,)),
        ("sweep_expired", (0,)),
        ("events", ("nope",)),
    ],
)
def test_bad_input_raises_invalid_input_and_writes_nothing(
    store: Blocking, method: str, args: tuple
) -> None:
    store.find_or_create_lobby("keep", 4)
    before = store.stats()
    events_before = store.events()
    with pytest.raises(InvalidInput) as info:
        getattr(store, method)(*args)
    assert isinstance(info.value, ValueError) and isinstance(info.value, LobbyError)
    assert store.stats() == before
    assert store.events() == events_before


def test_opaque_user_ids_round_trip_exactly(store: Blocking) -> None:
    odd = ["a:b", "*", "{pool}", "with space", "ünïcødé 🎟", "x" * 256, "é" * 128, "|", "-1"]
    lobby = store.join_party(odd, 10)
    assert lobby.users == tuple(odd)
    for user in odd:
        assert store.lobby_of(user).id == lobby.id
    assert store.book_ticket(lobby.id).users == tuple(odd)


@pytest.mark.parametrize("pool", ["", "a{b", "a}b", "x" * 129, 5])
def test_bad_pool_names(make_store: StoreFactory, pool: object) -> None:
    with pytest.raises(InvalidInput):
        make_store(pool=pool)


@pytest.mark.parametrize("ttl", [0, -1, float("nan"), float("inf"), "10", True])
def test_bad_ttl(make_store: StoreFactory, ttl: object) -> None:
    with pytest.raises(InvalidInput):
        make_store(lobby_ttl=ttl)


def test_pools_are_isolated(make_store: StoreFactory) -> None:
    a, b = make_store(pool="a"), make_store(pool="b")
    lobby = a.find_or_create_lobby("u", 4)
    assert b.lobby_of("u") is None and b.get_lobby(lobby.id) is None
    with pytest.raises(LobbyNotFound):
        b.book_ticket(lobby.id)
    assert b.find_or_create_lobby("u", 4).id != lobby.id
    assert a.stats().waiting_users == 1 and b.stats().waiting_users == 1


def test_audit_of_a_sound_pool_is_clean(make_store: StoreFactory) -> None:
    store = make_store(pool="audit")
    fill(store, 10, 3)
    store.leave_lobby("u4")
    store.join_party(["p", "q"], 3)
    report = check(snapshot_of(store))
    assert report.ok, report.findings
    assert report.figures["lobbies"] == 4 and report.figures["waiting"] == 11


def snapshot_of(store: Blocking):  # type: ignore[no-untyped-def]
    """Snapshot through a sync client on the same fake server as the store."""
    import fakeredis

    server = store.store.client.connection_pool.connection_kwargs["server"]
    return snapshot(fakeredis.FakeRedis(server=server), store.pool)


def test_replayed_join_after_booking_gets_its_first_answer(make_store: StoreFactory) -> None:
    # The same call sent twice (a retry after a lost reply), with a booking in between.
    store = make_store()
    call = store.store._protocol.find_or_create_lobby("a", 2)
    first = store._run(call)
    store.find_or_create_lobby("b", 2)
    store.book_ticket(first.id)
    again = store._run(call)
    assert again == first  # the first answer, not a new placement
    assert store.lobby_of("a") is None and store.stats().joins == 2


def test_without_a_replay_window_a_replayed_join_never_remakes_its_booked_lobby(
    make_store: StoreFactory,
) -> None:
    store = make_store(replay_window=None)
    call = store.store._protocol.find_or_create_lobby("a", 2)
    first = store._run(call)
    store.book_ticket(first.id)
    with pytest.raises(JoinReplayTooLate) as refused:
        store._run(call)
    assert refused.value.lobby_id == first.id
    assert store.lobby_of("a") is None  # nobody placed again, nothing written
    assert store.stats().bookings == 1


def test_without_a_replay_window_a_replayed_join_places_again_if_its_lobby_was_not_booked(
    make_store: StoreFactory,
) -> None:
    store = make_store(replay_window=None)
    call = store.store._protocol.find_or_create_lobby("a", 2)
    first = store._run(call)
    store.leave_lobby("a")
    assert store._run(call).id == first.id  # the documented gap without a window
    assert store.lobby_of("a") is not None
