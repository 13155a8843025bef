"""hypothesis stateful test: random operation sequences against a pure-Python model of a pool."""

from __future__ import annotations

from dataclasses import dataclass, field

import fakeredis
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from lobbycore import (
    AlreadyBooked,
    AlreadyInLobby,
    InvalidInput,
    LobbyNotFound,
    LobbyStore,
    SoldOut,
)

N_USERS = 12
CAPACITIES = st.sampled_from([3, 3, 3, 2])
UNKNOWN_LOBBY = "01ARZ3NDEKTSV4RRFFQ69G5FAV"


@dataclass
class ModelLobby:
    id: str
    order: int
    max_users: int
    users: list[str] = field(default_factory=list)


class PoolModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.store = LobbyStore(fakeredis.FakeRedis(), pool="model", lobby_ttl=None)
        self.lobbies: dict[str, ModelLobby] = {}
        self.where: dict[str, str] = {}
        self.booked: dict[str, tuple[str, tuple[str, ...]]] = {}
        self.created = 0
        self.seats: int | None = None

    # -- the model's own rules --------------------------------------------------------------
    def oldest_with_room(self, k: int, max_users: int) -> ModelLobby | None:
        fits = [
            x
            for x in self.lobbies.values()
            if x.max_users == max_users and max_users - len(x.users) >= k
        ]
        return min(fits, key=lambda x: x.order, default=None)

    def place(self, users: list[str], max_users: int, got_id: str) -> None:
        target = self.oldest_with_room(len(users), max_users)
        if target is None:
            assert got_id not in self.lobbies and got_id not in self.booked
            self.created += 1
            target = self.lobbies[got_id] = ModelLobby(got_id, self.created, max_users)
        assert got_id == target.id
        target.users.extend(users)
        for user in users:
            self.where[user] = target.id

    def free(self, lobby_id: str) -> ModelLobby:
        lobby = self.lobbies.pop(lobby_id)
        for user in lobby.users:
            del self.where[user]
        return lobby

    # -- rules --------------------------------------------------------------------------------
    def pick_users(self, data: st.DataObject, placed: bool, n: int = 1) -> list[str]:
        """Mostly users in the wanted state (else most joins would be idempotent no-ops)."""
        names = [f"u{i}" for i in range(N_USERS)]
        wanted = [u for u in names if (u in self.where) == placed]
        rarely = data.draw(st.integers(0, 9)) == 9  # hypothesis favours small draws
        source = wanted if len(wanted) >= n and not rarely else names
        return data.draw(st.lists(st.sampled_from(source), min_size=n, max_size=n, unique=True))

    @rule(data=st.data(), max_users=CAPACITIES)
    def join(self, data: st.DataObject, max_users: int) -> None:
        (user,) = self.pick_users(data, placed=False)
        got = self.store.find_or_create_lobby(user, max_users)
        if user not in self.where:
            self.place([user], max_users, got.id)
        assert got.id == self.where[user]
        assert got.users == tuple(self.lobbies[got.id].users)
        assert got.max_users == self.lobbies[got.id].max_users

    @rule(data=st.data(), size=st.integers(1, 4), max_users=CAPACITIES)
    def join_party(self, data: st.DataObject, size: int, max_users: int) -> None:
        users = self.pick_users(data, placed=False, n=size)
        if len(users) > max_users:
            with pytest.raises(InvalidInput):
                self.store.join_party(users, max_users)
            return
        placed = {self.where.get(u) for u in users}
        if None not in placed and len(placed) == 1:
            got = self.store.join_party(users, max_users)
            assert got.id == self.where[users[0]]
        elif placed != {None}:
            with pytest.raises(AlreadyInLobby) as info:
                self.store.join_party(users, max_users)
            assert self.where.get(info.value.user_id) == info.value.lobby_id
            return
        else:
            got = self.store.join_party(users, max_users)
            self.place(users, max_users, got.id)
        assert got.users == tuple(self.lobbies[got.id].users)

    @rule(data=st.data())
    def leave(self, data: st.DataObject) -> None:
        (user,) = self.pick_users(data, placed=True)
        got = self.store.leave_lobby(user)
        lobby_id = self.where.pop(user, None)
        if lobby_id is None:
            assert got is None
            return
        lobby = self.lobbies[lobby_id]
        lobby.users.remove(user)
        if not lobby.users:
            del self.lobbies[lobby_id]
            assert got is None
        else:
            assert got is not None and got.id == lobby_id and got.users == tuple(lobby.users)

    @rule(data=st.data(), request_id=st.sampled_from(["r1", "r2", None]))
    def book(self, data: st.DataObject, request_id: str | None) -> None:
        lobby_id = data.draw(
            st.sampled_from(sorted(self.lobbies) + sorted(self.booked) + [UNKNOWN_LOBBY])
        )
        if lobby_id in self.lobbies:
            users = tuple(self.lobbies[lobby_id].users)
            if self.seats is not None and self.seats < len(users):
                with pytest.raises(SoldOut):
                    self.store.book_ticket(lobby_id, request_id)
                return
            got = self.store.book_ticket(lobby_id, request_id)
            assert got.users == users and got.lobby_id == lobby_id
            assert request_id is None or got.request_id == request_id
            self.free(lobby_id)
            self.booked[lobby_id] = (got.request_id, users)
            if self.seats is not None:
                self.seats -= len(users)
        elif lobby_id in self.booked:
            first_request, users = self.booked[lobby_id]
            if request_id == first_request:
                assert self.store.book_ticket(lobby_id, request_id).users == users
            else:
                with pytest.raises(AlreadyBooked) as info:
                    self.store.book_ticket(lobby_id, request_id)
                assert info.value.booking.request_id == first_request
        else:
            with pytest.raises(LobbyNotFound):
                self.store.book_ticket(lobby_id, request_id)

    @rule(seats=st.none() | st.integers(0, 12))
    def set_seats(self, seats: int | None) -> None:
        self.store.set_seats(seats)
        self.seats = seats

    # -- invariants --------------------------------------------------------------------------
    @invariant()
    def stats_agree(self) -> None:
        stats = self.store.stats()
        full = sum(1 for x in self.lobbies.values() if len(x.users) >= x.max_users)
        assert stats.full_lobbies == full
        assert stats.open_lobbies == len(self.lobbies) - full
        assert stats.waiting_users == len(self.where)
        assert stats.bookings == len(self.booked)
        assert stats.seats_left == self.seats

    @invariant()
    def every_user_is_where_the_model_says(self) -> None:
        for i in range(N_USERS):
            got = self.store.lobby_of(f"u{i}")
            expected = self.where.get(f"u{i}")
            assert (got.id if got else None) == expected


TestPoolModel = PoolModel.TestCase
TestPoolModel.settings = settings(
    max_examples=100,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
