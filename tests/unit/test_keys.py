"""The Python mirror of the key layout (lobbycore._keys) against the real one in common.lua."""

from __future__ import annotations

import re
from importlib import resources

import fakeredis

from lobbycore import Lobby, LobbyStore, NaiveLobbyStore
from lobbycore._keys import (
    LAYOUT_VERSION,
    REPLAY_BUCKETS,
    USER_BUCKETS,
    NaiveKeys,
    PoolKeys,
    join_users,
    lobby_value,
    parse_lobby_value,
    split_users,
    sub_pools,
)

COMMON_LUA = resources.files("lobbycore").joinpath("lua/common.lua").read_text()


def lua_key_table() -> tuple[str, ...]:
    """The key names of the table at the top of common.lua (``--   l:<id>   string  ...``)."""
    row = re.compile(r"^--   (\S+)\s+(?:hash|string|zset|stream|list)\s", re.MULTILINE)
    return tuple(row.findall(COMMON_LUA))


def lua_constant(name: str) -> int:
    match = re.search(rf"^local {name} = (\d+)$", COMMON_LUA, re.MULTILINE)
    assert match, f"{name} is not set in common.lua"
    return int(match.group(1))


def test_the_mirror_names_the_keys_of_the_lua_key_table() -> None:
    table = lua_key_table()
    assert len(table) >= 10  # the table was read (not an empty match)
    assert PoolKeys("lobbysim:{p}:").layout() == table


def test_bucket_counts_match_the_scripts() -> None:
    assert lua_constant("USER_BUCKETS") == USER_BUCKETS
    assert lua_constant("REPLAY_BUCKETS") == REPLAY_BUCKETS


def test_keys_are_the_ones_the_scripts_write() -> None:
    client = fakeredis.FakeRedis()
    store = LobbyStore(client, pool="keys", lobby_ttl=60)
    store.set_seats(10)
    users = ["a", "ü-" + "x" * 40, "0123456789abcdefgh"]
    lobby = store.join_party(users, 4)
    keys = PoolKeys.for_pool("keys")
    for user in users:
        assert client.hget(keys.user_index_of(user), user) == lobby.id.encode()
    assert parse_lobby_value(lobby.id, client.get(keys.lobby(lobby.id))) == lobby
    assert client.zscore(keys.open(4), lobby.id) is not None
    assert client.zscore(keys.room(4, 1), lobby.id) is not None
    assert client.zscore(keys.expiry, lobby.id) is not None
    assert int(client.hget(keys.meta, "seats")) == 10
    named = {keys.stats, keys.events, keys.seq, keys.meta, keys.expiry, keys.lobby(lobby.id)}
    named |= {keys.open(4), keys.room(4, 1), *(keys.user_index_of(u) for u in users)}
    written = {k.decode() for k in client.scan_iter(match=keys.all_pattern)}
    assert named <= written
    replays = written - named  # the join's answer, kept for a replay of the call
    assert len(replays) == 1
    assert all(key == keys.replay(*key.rsplit(":", 3)[1:]) for key in replays)
    store.book_ticket(lobby.id)
    assert client.exists(keys.booking(lobby.id)) and client.xlen(keys.bookings) == 1


def test_naive_keys_are_the_ones_the_naive_store_writes() -> None:
    client = fakeredis.FakeRedis()
    store = NaiveLobbyStore(client, pool="keys")
    store.set_seats(5)
    lobby = store.find_or_create_lobby("a", 2)
    keys = NaiveKeys.for_pool("keys")
    assert client.hget(keys.lobby(lobby.id), "id") == lobby.id.encode()
    assert keys.lobby_id_of(keys.lobby(lobby.id)) == lobby.id
    assert int(client.get(keys.seats)) == 5
    store.book_ticket(lobby.id)
    assert client.xlen(keys.bookings) == 1


def test_the_lobby_value_codec_round_trips() -> None:
    lobby = Lobby(id="L", session_id="S", users=("a", "b|c"), max_users=3, created_at=7)
    assert parse_lobby_value("L", lobby_value(lobby, order=4, deadline=9)) == lobby
    assert parse_lobby_value("L", lobby_value(lobby).encode()) == lobby
    empty = Lobby(id="L", session_id="S", users=(), max_users=2, created_at=1)
    assert parse_lobby_value("L", lobby_value(empty)) == empty
    assert parse_lobby_value("L", None) is None
    assert parse_lobby_value("L", "not a lobby") is None
    assert split_users(join_users(["a", "b"])) == ("a", "b") and split_users(b"") == ()


def test_sub_pools_and_patterns() -> None:
    assert sub_pools("p") == (PoolKeys.for_pool("p"),)
    assert [k.prefix for k in sub_pools("p", 2)] == ["lobbysim:s2:{p#0}:", "lobbysim:s2:{p#1}:"]
    keys = PoolKeys.for_pool("a*[b]?")
    assert keys.lobby_pattern == r"lobbysim:{a\*\[b\]\?}:l:*"
    assert keys.lobby_id_of(keys.lobby("X.1")) == "X.1"
    assert keys.capacity_of(keys.open(12)) == 12


def test_naive_lobbies_are_the_articles_own_keys() -> None:
    keys = NaiveKeys.for_pool("ticket")
    assert keys.lobby("01ARZ3NDEKTSV4RRFFQ69G5FAV") == "lobby:ticket:01ARZ3NDEKTSV4RRFFQ69G5FAV"
    assert keys.is_lobby_key("lobby:ticket:01ARZ3NDEKTSV4RRFFQ69G5FAV")
    # Pool "ticket:eu"'s lobbies match "lobby:ticket:*" too, but are not pool "ticket"'s.
    assert not keys.is_lobby_key(
        NaiveKeys.for_pool("ticket:eu").lobby("01ARZ3NDEKTSV4RRFFQ69G5FAV")
    )
    assert not keys.is_lobby_key("lobby:ticket:")
    # The extras the article does not have stay out of its key space.
    assert not keys.bookings.startswith("lobby:") and not keys.seats.startswith("lobby:")


def test_the_layout_version_matches_the_scripts() -> None:
    match = re.search(r"^local LAYOUT = '(\d+)'$", COMMON_LUA, re.MULTILINE)
    assert match and match.group(1) == LAYOUT_VERSION
