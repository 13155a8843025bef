"""Join replay records on a real server, with a short replay window and real expiry.

A join's answer goes into a hash of its replay window (``jr:<ms>:<window>:<bucket>``); a
join two windows later UNLINKs that hash, and it expires a window after that anyway; a
replay looks in its own window and the one before. These tests cross window boundaries on
purpose.
"""

from __future__ import annotations

import time

import redis

from lobbycore import LobbyStore

WINDOW = 0.5  # seconds: short, yet wide enough that scheduling jitter cannot flip a window
WINDOW_MS = int(WINDOW * 1000)


def server_ms(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return int(seconds) * 1000 + int(micros) // 1000


def sleep_until_window_offset(client: redis.Redis, offset_ms: int) -> int:
    """Sleep to ``offset_ms`` past the start of the next window (server clock); its number."""
    now = server_ms(client)
    window = now // WINDOW_MS + 1
    time.sleep((window * WINDOW_MS + offset_ms - now) / 1000)
    return window


def replay_keys(client: redis.Redis, pool: str) -> list[str]:
    return sorted(k.decode() for k in client.scan_iter(match=f"lobbysim:{{{pool}}}:jr:*"))


def test_replay_in_the_next_window_gets_the_first_answer(
    redis_client: redis.Redis, pool_name: str
) -> None:
    store = LobbyStore(redis_client, pool=pool_name, lobby_ttl=None, replay_window=WINDOW)
    window = sleep_until_window_offset(redis_client, 20)
    call = store._protocol.find_or_create_lobby("a", 2)
    first = store._run(call)
    store.find_or_create_lobby("b", 2)
    store.book_ticket(first.id)
    call_id = str(call.args[1])
    (key,) = [k for k in replay_keys(redis_client, pool_name) if redis_client.hexists(k, call_id)]
    assert key.startswith(f"lobbysim:{{{pool_name}}}:jr:{WINDOW_MS}:{window}:")
    # A backstop expiry, three windows after its window began.
    assert redis_client.pexpiretime(key) == (window + 3) * WINDOW_MS

    # Replayed 1.5 windows after its window began: more than a whole window after the call,
    # in the next window, and the lobby has been booked in between.
    time.sleep((window * WINDOW_MS + WINDOW_MS * 3 // 2 - server_ms(redis_client)) / 1000)
    again = store._run(call)
    assert server_ms(redis_client) // WINDOW_MS == window + 1
    assert again == first  # the first answer, not a second placement
    assert store.lobby_of("a") is None
    assert store.stats().joins == 2
    assert redis_client.exists(key) == 1

    # Two windows on, a join whose answer falls in the same bucket (the very same call again:
    # past the window it is a new placement) removes that hash, long before its expiry.
    time.sleep(((window + 2) * WINDOW_MS + 50 - server_ms(redis_client)) / 1000)
    store._run(call)
    assert server_ms(redis_client) // WINDOW_MS == window + 2
    assert redis_client.exists(key) == 0


def test_replay_records_live_in_a_bounded_number_of_hashes(
    redis_client: redis.Redis, pool_name: str
) -> None:
    store = LobbyStore(redis_client, pool=pool_name, lobby_ttl=None, replay_window=WINDOW)
    window = sleep_until_window_offset(redis_client, 20)
    for i in range(400):
        store.find_or_create_lobby(f"u{i}", 4)
    assert server_ms(redis_client) // WINDOW_MS == window  # all in one window
    keys = replay_keys(redis_client, pool_name)
    assert 1 < len(keys) <= 16
    assert sum(redis_client.hlen(k) for k in keys) == 400
    assert {redis_client.pexpiretime(k) for k in keys} == {(window + 3) * WINDOW_MS}

    # With no more joins, Redis's expiry frees them all.
    time.sleep(((window + 3) * WINDOW_MS + 100 - server_ms(redis_client)) / 1000)
    assert replay_keys(redis_client, pool_name) == []
