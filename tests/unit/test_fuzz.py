"""Fuzzing the public API and the CLI flags: every bad input gets a typed error or a one-line
message with exit 2, never a traceback, and writes nothing; no pool touches another's keys."""

from __future__ import annotations

import contextlib
import io
from typing import Any

import fakeredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lobbycore import InvalidInput, LobbyError, LobbyStore, pool_prefix
from lobbysim.cli import main

ANYTHING = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=300),
    st.binary(max_size=300),
    st.lists(st.text(max_size=4), max_size=4),
    st.just("01ARZ3NDEKTSV4RRFFQ69G5FAV"),
)
METHODS = {
    "find_or_create_lobby": 2,
    "join_party": 2,
    "leave_lobby": 1,
    "lobby_of": 1,
    "get_lobby": 1,
    "book_ticket": 2,
    "set_seats": 1,
    "sweep_expired": 1,
    "events": 2,
}
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def everything(client: fakeredis.FakeRedis) -> dict[bytes, bytes | None]:
    return {key: client.dump(key) for key in client.scan_iter(count=1000)}


@FUZZ
@given(
    method=st.sampled_from(sorted(METHODS)),
    args=st.lists(ANYTHING, min_size=2, max_size=2),
    shards=st.sampled_from([1, 3]),
)
def test_any_argument_gets_a_result_or_a_lobby_error(
    method: str, args: list[Any], shards: int
) -> None:
    client = fakeredis.FakeRedis()
    store = LobbyStore(client, pool="fuzz", lobby_ttl=None, shards=shards)
    store.find_or_create_lobby("seed-a", 4)
    before = everything(client)
    try:
        getattr(store, method)(*args[: METHODS[method]])
    except InvalidInput:
        assert everything(client) == before  # bad input wrote nothing
    except LobbyError:
        pass  # a typed answer (not found, already booked, ...)


@FUZZ
@given(
    pool=st.text(min_size=1, max_size=40).filter(
        lambda p: not ({"{", "}", "\0"} & set(p)) and len(p.encode()) <= 128
    ),
    users=st.lists(
        st.text(min_size=1, max_size=40).filter(lambda u: "\0" not in u),
        min_size=1,
        max_size=6,
        unique=True,
    ),
    shards=st.sampled_from([1, 2, 5]),
    other_shards=st.sampled_from([1, 2]),
    same_name=st.booleans(),
)
def test_a_pool_only_ever_touches_its_own_keys(
    pool: str, users: list[str], shards: int, other_shards: int, same_name: bool
) -> None:
    """Also a pool and the same pool name with another shard count: they are two pools."""
    client = fakeredis.FakeRedis()
    if same_name and shards == other_shards:
        other_shards = 1 if shards > 1 else 2
    other = LobbyStore(
        client, pool=pool if same_name else "other", lobby_ttl=None, shards=other_shards
    )
    other.find_or_create_lobby(users[-1], 3)
    theirs = everything(client)
    store = LobbyStore(client, pool=pool, lobby_ttl=60, shards=shards)
    store.set_seats(100)
    lobbies = [store.find_or_create_lobby(user, 2) for user in users]
    store.leave_lobby(users[0])
    for lobby in lobbies:
        with contextlib.suppress(LobbyError):  # already booked by an earlier lobby's booking
            store.book_ticket(lobby.id)
    store.events()
    store.sweep_expired()
    if shards == 1:
        prefixes = (pool_prefix(pool).encode(),)
    else:
        prefixes = tuple(pool_prefix(pool, i, shards).encode() for i in range(shards))
    for key, value in everything(client).items():
        assert key.startswith(prefixes) or theirs.get(key) == value, key
    # The other pool still holds its one user, untouched by this pool's bookings.
    assert other.lobby_of(users[-1]) is not None and other.stats().waiting_users == 1


FLAG_VALUES = st.one_of(
    st.text(max_size=12), st.integers(-5, 5).map(str), st.floats(allow_nan=True).map(str)
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    flag=st.sampled_from(
        [
            "--rate",
            "--max-users",
            "--party-share",
            "--patience",
            "--seats",
            "--book-after",
            "--lobby-ttl",
            "--pool",
            "--strategy",
            "--seed",
        ]
    ),
    value=FLAG_VALUES,
)
def test_cli_flags_never_traceback(flag: str, value: str) -> None:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(["demo", "--headless", "--duration", "0.05", "--rate", "5", flag, value])
        except SystemExit as exc:  # argparse's own exit, through our one-line error()
            code = int(exc.code or 0)
    assert code in (0, 1, 2)
    if code == 2:
        assert len(err.getvalue().strip().splitlines()) == 1, err.getvalue()
    assert "Traceback" not in err.getvalue()
