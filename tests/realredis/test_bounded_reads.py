"""Reads of a whole pool or stream fit a small ``client-output-buffer-limit``: on a private
server limited to ``normal 64kb 32kb 5``, ``store.events``, ``lobbysim watch --headless``
and ``lobbysim audit`` read a pool of large lobbies (256-byte user ids, lobbies of up to
1000) to the end; a limit too small for one lobby gets one line naming it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis.asyncio

from lobbycore import LobbyStore
from lobbycore.admin import FOLLOW_REPLY_BYTES, MAX_EVENT_BYTES, async_follow_reply_bytes
from lobbycore.audit import check, snapshot
from lobbycore.defaults import MAX_ID_BYTES
from lobbysim.testing import RedisServer
from tests.cli import lobbysim

LIMIT = "normal 64kb 32kb 5"
POOL = "bounded"


def user(n: int) -> str:
    head = f"user-{n:05d}-"
    return head + "x" * (MAX_ID_BYTES - len(head))


@dataclass(frozen=True)
class Filled:
    server: RedisServer
    joins: int
    lobbies: int


def fill(store: LobbyStore) -> tuple[int, int]:
    """Lobbies of 1000, 999, 998 and 997 holding 150 users each (about 39 kB: more than a
    read's bound, less than the limit), 40 full and booked lobbies of 100 (events naming 16
    ids each), and lobbies of 4; every user id 256 bytes. Joins made, lobbies left."""
    store.set_seats(None)
    n = 0
    for size in range(1000, 996, -1):
        for _ in range(15):
            store.join_party([user(n + i) for i in range(10)], size)
            n += 10
    for _ in range(40):
        lobby = None
        for _ in range(10):
            lobby = store.join_party([user(n + i) for i in range(10)], 100)
            n += 10
        assert lobby is not None and lobby.is_full
        store.book_ticket(lobby.id)
    for _ in range(200):
        store.find_or_create_lobby(user(n), 4)
        n += 1
    return n, 4 + 200 // 4


@pytest.fixture(scope="module")
def filled() -> Iterator[Filled]:
    # A server of its own: the limit applies to every client of the server.
    with RedisServer() as server:
        client = server.client(socket_timeout=30)
        joins, lobbies = fill(LobbyStore(client, pool=POOL, lobby_ttl=None))
        client.config_set("client-output-buffer-limit", LIMIT)
        client.close()
        yield Filled(server, joins, lobbies)


def test_events_are_read_to_the_end(filled: Filled) -> None:
    client = filled.server.client(socket_timeout=30)
    store = LobbyStore(client, pool=POOL, lobby_ttl=None)
    events, after = [], "0-0"
    while batch := store.events(after=after, count=100):
        events.extend(batch)
        after = batch[-1].id
    assert len(events) == client.xlen(f"lobbysim:{{{POOL}}}:events")
    assert sum(len(e.users) + e.more_users for e in events if e.type == "joined") == filled.joins


def test_the_audit_reads_the_whole_pool(filled: Filled) -> None:
    client = filled.server.client(socket_timeout=30)
    snap = snapshot(client, POOL)
    assert len(snap.lobbies) == filled.lobbies
    assert len(snap.bookings) == 40
    assert check(snap).ok
    done = lobbysim("audit", "--redis-url", filled.server.url, "--pool", POOL, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok=true violations=0" in done.stdout, done.stdout


def test_watch_reads_every_event(filled: Filled) -> None:
    done = lobbysim(
        "watch", "--headless", "--duration", "3", "--redis-url", filled.server.url,
        "--pool", POOL, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    summary = dict(word.split("=", 1) for word in done.stdout.split() if "=" in word)
    assert summary["errors"] == "0" and summary["joins_unseen"] == "0", done.stdout
    assert summary["joins"] == str(filled.joins), done.stdout


def test_a_limit_too_small_for_one_lobby_is_named(filled: Filled) -> None:
    client = filled.server.client(socket_timeout=30)
    client.config_set("client-output-buffer-limit", "normal 16kb 8kb 5")
    try:
        done = lobbysim("audit", "--redis-url", filled.server.url, "--pool", POOL, timeout=120)
    finally:
        client.config_set("client-output-buffer-limit", LIMIT)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert "the server closed the connection during a read of pool 'bounded'" in done.stderr
    assert "client-output-buffer-limit (normal 16384 8192 5) may be too small" in done.stderr


def resp_entry_bytes(entry_id: bytes, fields: dict[bytes, bytes]) -> int:
    """One XRANGE entry's size in a RESP2 reply: [id, [name, value, ...]]."""

    def bulk(value: bytes) -> int:
        return len(f"${len(value)}\r\n") + len(value) + 2

    header = len("*2\r\n") + len(f"*{2 * len(fields)}\r\n")
    return header + bulk(entry_id) + sum(bulk(n) + bulk(v) for n, v in fields.items())


def test_no_event_is_larger_than_a_large_read_counts_it(filled: Filled) -> None:
    """A large read asks for ``reply_bytes // MAX_EVENT_BYTES`` entries: every event of a
    pool of 256-byte user ids (events naming 16 of them) takes at most MAX_EVENT_BYTES."""
    client = filled.server.client(socket_timeout=30)
    entries: list[tuple[bytes, dict[bytes, bytes]]] = []
    start = "-"
    key = f"lobbysim:{{{POOL}}}:events"
    while page := client.xrange(key, start, "+", count=10):  # pages under the limit
        entries += page  # type: ignore[arg-type]
        start = f"({page[-1][0].decode()}"  # type: ignore[union-attr]
    largest = max(resp_entry_bytes(entry_id, fields) for entry_id, fields in entries)
    assert max(len(fields[b"users"].split(b"\0")) for _, fields in entries) == 16
    assert MAX_EVENT_BYTES * 0.8 < largest <= MAX_EVENT_BYTES, (largest, MAX_EVENT_BYTES)


@pytest.mark.parametrize(
    ("limit", "bound"),
    [
        (LIMIT, 16 * 1024),  # half the soft limit: under both
        ("normal 0 0 0", FOLLOW_REPLY_BYTES),  # no limit: the follower's own bound
        ("normal 64mb 0 0", FOLLOW_REPLY_BYTES),
        ("normal 6mb 0 0", 3 * 1024 * 1024),
    ],
)
async def test_a_follower_s_reads_stay_under_half_the_server_s_limit(
    filled: Filled, limit: str, bound: int
) -> None:
    client = filled.server.client(socket_timeout=30)
    client.config_set("client-output-buffer-limit", limit)
    reader = redis.asyncio.Redis.from_url(filled.server.url)
    try:
        assert await async_follow_reply_bytes(reader) == bound
    finally:
        await reader.aclose()
        client.config_set("client-output-buffer-limit", LIMIT)
