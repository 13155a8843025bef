"""The audit's checks, each shown to fire on a pool that breaks it."""

from __future__ import annotations

import fakeredis

from lobbycore import Booking, Lobby, LobbyStore
from lobbycore.audit import VIOLATION_KINDS, History, PoolSnapshot, check, snapshot

A, B = "01ARZ3NDEKTSV4RRFFQ69G5FA0", "01ARZ3NDEKTSV4RRFFQ69G5FB0"


def lobby(lobby_id: str, *users: str, max_users: int = 3) -> Lobby:
    return Lobby(id=lobby_id, session_id="s", users=users, max_users=max_users, created_at=1)


def booking(lobby_id: str, *users: str, request_id: str = "r") -> Booking:
    return Booking(
        lobby_id=lobby_id, session_id="s", users=users, booked_at=2, request_id=request_id
    )


def snap(
    *lobbies: Lobby,
    index: dict[str, str] | None = None,
    bookings: tuple[Booking, ...] = (),
    seats: int | None = None,
    open_index: dict[int, set[str]] | None = None,
) -> PoolSnapshot:
    return PoolSnapshot({x.id: x for x in lobbies}, index, open_index, list(bookings), seats)


def kinds(report) -> set[str]:  # type: ignore[no-untyped-def]
    return set(report.counts())


def test_clean() -> None:
    history = History()
    history.joined(["a", "b"], lobby(A, "a", "b"))
    report = check(snap(lobby(A, "a", "b"), index={"a": A, "b": A}, open_index={3: {A}}), history)
    assert report.ok and report.summary().startswith("ok=true violations=0")
    assert all(f"{kind}=0" in report.summary() for kind in VIOLATION_KINDS)


def test_over_capacity() -> None:
    assert kinds(check(snap(lobby(A, "a", "b", "c", "d")))) == {"over_capacity"}


def test_user_in_two_lobbies() -> None:
    assert "user_in_two_lobbies" in kinds(check(snap(lobby(A, "a"), lobby(B, "a"))))
    history = History()
    history.joined(["a"], lobby(A, "a"))
    assert kinds(check(snap(lobby(B, "a")), history)) >= {"user_in_two_lobbies", "lost_join"}


def test_lost_join() -> None:
    history = History()
    history.joined(["a"], lobby(A, "a"))
    assert kinds(check(snap(lobby(A, "b")), history)) == {"lost_join"}
    history.booked(booking(A, "b"))
    assert "lost_join" in kinds(check(snap(), history))


def test_expired_lobby_is_not_a_lost_join() -> None:
    history = History()
    history.joined(["a"], lobby(A, "a"))
    assert check(snap(), history, expired_lobbies=[A]).ok


def test_lost_leave() -> None:
    history = History()
    history.joined(["a"], lobby(A, "a"))
    history.left("a")
    assert kinds(check(snap(lobby(A, "a")), history)) == {"lost_leave"}


def test_double_booking() -> None:
    assert kinds(check(snap(bookings=(booking(A, "a"), booking(A, "a"))))) == {"double_booking"}
    history = History()
    history.joined(["a"], lobby(A, "a"))
    history.booked(booking(A, "a", request_id="r1"))
    history.booked(booking(A, "a", request_id="r2"))
    assert "double_booking" in kinds(check(snap(bookings=(booking(A, "a"),)), history))


def test_lost_booking() -> None:
    history = History()
    history.joined(["a"], lobby(A, "a"))
    history.booked(booking(A, "a"))
    assert kinds(check(snap(), history)) == {"lost_booking"}


def test_index_mismatch() -> None:
    assert kinds(check(snap(lobby(A, "a"), index={"a": B}, open_index={3: {A}}))) == {
        "index_mismatch"
    }
    assert kinds(check(snap(index={"ghost": A}, open_index={}))) == {"index_mismatch"}
    assert kinds(check(snap(lobby(A, "a"), index={"a": A}, open_index={}))) == {"index_mismatch"}


def test_oversell() -> None:
    assert kinds(check(snap(seats=-1))) == {"oversell"}
    sold = (booking(A, "a", "b"),)
    assert kinds(check(snap(bookings=sold, seats=1), initial_seats=2)) == {"oversell"}
    assert check(snap(bookings=sold, seats=0), initial_seats=2).ok


def test_snapshot_reads_a_store_pool_with_awkward_names() -> None:
    client = fakeredis.FakeRedis()
    pool = "shop*[1]?"
    store = LobbyStore(client, pool=pool, lobby_ttl=None)
    other = LobbyStore(client, pool="shop", lobby_ttl=None)
    joined = store.join_party(["x", "y"], 3)
    other.find_or_create_lobby("z", 3)
    result = snapshot(client, pool)
    assert list(result.lobbies.values()) == [joined]
    assert result.user_index == {"x": joined.id, "y": joined.id}
    assert result.open_index == {3: {joined.id}}
