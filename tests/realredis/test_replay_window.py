"""Join replay records on a real server, with a short replay window and real expiry.

A join's answer goes into a hash of its replay window (``jr:<ms>:<window>:<bucket>``); a
join two windows later UNLINKs that hash, and it expires a window after that anyway; a
replay looks in its own window and the one before. These tests cross window boundaries on
purpose.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import redis

from lobbycore import LobbyStore
from lobbycore._keys import REPLAY_BUCKETS, PoolKeys

WINDOW = 0.5  # seconds: short, yet wide enough that scheduling jitter cannot flip a window
WINDOW_MS = int(WINDOW * 1000)


ATTEMPTS = 3  # a scenario that a stalled machine pushed past its window is run again


class Stalled(Exception):
    """The machine was too slow for the scenario's timing; not a finding about the store."""


def server_ms(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return int(seconds) * 1000 + int(micros) // 1000


def sleep_until(client: redis.Redis, at_ms: int) -> None:
    """Sleep until ``at_ms`` on the server's clock; ``Stalled`` if that moment has passed."""
    delay = at_ms - server_ms(client)
    if delay < 0:
        raise Stalled(f"{-delay} ms late")
    time.sleep(delay / 1000)


def sleep_until_window_offset(
    client: redis.Redis, offset_ms: int, window_ms: int = WINDOW_MS
) -> int:
    """Sleep to ``offset_ms`` past the start of the next window (server clock); its number."""
    window = server_ms(client) // window_ms + 1
    sleep_until(client, window * window_ms + offset_ms)
    return window


def in_window(client: redis.Redis, window: int, window_ms: int = WINDOW_MS) -> None:
    """``Stalled`` unless the server's clock is still in ``window``."""
    if server_ms(client) // window_ms != window:
        raise Stalled(f"left window {window}")


def replay_keys(
    client: redis.Redis, pool: str, windows: range, window_ms: int = WINDOW_MS
) -> list[str]:
    """The replay hashes of ``windows`` that exist. Named, not SCANned: the session's
    server holds every other test's keys, and a SCAN over them cost this test its timing."""
    keys = PoolKeys.for_pool(pool)
    names = [keys.replay(window_ms, w, b) for w in windows for b in range(REPLAY_BUCKETS)]
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.exists(name)
    return [name for name, found in zip(names, pipe.execute(), strict=True) if found]


def run_with_retries(scenario: Callable[[str], None], pool_name: str) -> None:
    stalls = []
    for attempt in range(ATTEMPTS):
        try:
            scenario(f"{pool_name}-{attempt}")
            return
        except Stalled as stall:
            stalls.append(str(stall))
    pytest.fail(f"the machine stalled in all {ATTEMPTS} attempts: {stalls}")


def test_replay_in_the_next_window_gets_the_first_answer(
    redis_client: redis.Redis, pool_name: str
) -> None:
    def scenario(pool: str) -> None:
        store = LobbyStore(redis_client, pool=pool, lobby_ttl=None, replay_window=WINDOW)
        window = sleep_until_window_offset(redis_client, 20)
        call = store._protocol.find_or_create_lobby("a", 2)
        first = store._run(call)
        store.find_or_create_lobby("b", 2)
        store.book_ticket(first.id)
        call_id = str(call.args[1])
        in_window(redis_client, window)
        keys = replay_keys(redis_client, pool, range(window - 1, window + 2))
        (key,) = [k for k in keys if redis_client.hexists(k, call_id)]
        assert key.startswith(PoolKeys.for_pool(pool).replay(WINDOW_MS, window, ""))
        # A backstop expiry, three windows after its window began.
        assert redis_client.pexpiretime(key) == (window + 3) * WINDOW_MS

        # Replayed 1.5 windows after its window began: more than a whole window after the
        # call, in the next window, and the lobby has been booked in between.
        sleep_until(redis_client, window * WINDOW_MS + WINDOW_MS * 3 // 2)
        again = store._run(call)
        in_window(redis_client, window + 1)
        assert again == first  # the first answer, not a second placement
        assert store.lobby_of("a") is None
        assert store.stats().joins == 2
        assert redis_client.exists(key) == 1

        # Two windows on, a join whose answer falls in the same bucket (a call id ending as
        # this one's, of the same length) removes that hash, long before its expiry.
        sleep_until(redis_client, (window + 2) * WINDOW_MS + 50)
        other = store._protocol.find_or_create_lobby("c", 2)
        other_id = str(other.args[1])[:-3] + call_id[-3:]
        store._run(other._replace(args=(other.args[0], other_id, *other.args[2:])))
        in_window(redis_client, window + 2)
        assert redis_client.exists(key) == 0

    run_with_retries(scenario, pool_name)


def test_replay_records_live_in_a_bounded_number_of_hashes(
    redis_client: redis.Redis, pool_name: str
) -> None:
    # A wider window than the other tests': 200 joins must fit in one, on a machine that
    # runs other test files at the same time (0.5 s was missed 3 times in a row there).
    wide = 2.0
    wide_ms = int(wide * 1000)

    def scenario(pool: str) -> None:
        store = LobbyStore(redis_client, pool=pool, lobby_ttl=None, replay_window=wide)
        window = sleep_until_window_offset(redis_client, 20, wide_ms)
        for i in range(200):
            store.find_or_create_lobby(f"u{i}", 4)
        in_window(redis_client, window, wide_ms)  # all in one window
        keys = replay_keys(redis_client, pool, range(window - 2, window + 2), wide_ms)
        assert 1 < len(keys) <= 16
        assert all(f":jr:{wide_ms}:{window}:" in k for k in keys)
        assert sum(redis_client.hlen(k) for k in keys) == 200
        assert {redis_client.pexpiretime(k) for k in keys} == {(window + 3) * wide_ms}

        # With no more joins, Redis's expiry frees them all.
        sleep_until(redis_client, (window + 3) * wide_ms + 100)
        assert replay_keys(redis_client, pool, range(window - 2, window + 2), wide_ms) == []

    run_with_retries(scenario, pool_name)
