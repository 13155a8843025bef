"""Join replay across server clock steps, and late retries, on a real redis-server whose
wall clock the test steps (an LD_PRELOAD shim, tests/realredis/clock_shim.c, built here).

A join's answer is kept in the hash of its replay window, numbered by the server's clock.
An NTP step or a failover to a node whose clock is behind must not make a retry miss it
(the window never goes backwards), and whatever a retry misses, it never makes a booked
lobby again: a lobby id, once booked, is never created a second time.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from lobbycore import JoinReplayTooLate, Lobby, LobbyStore
from lobbycore._keys import REPLAY_BUCKETS, PoolKeys
from lobbycore._protocol import ScriptCall
from lobbysim.testing import RedisServer

WINDOW = 10.0  # seconds: the test steps the clock by windows, it never waits for one
WINDOW_MS = int(WINDOW * 1000)
HOLD_WINDOWS = 8  # common.lua's REPLAY_HOLD_WINDOWS
SHIM_SOURCE = Path(__file__).with_name("clock_shim.c")


class SteppedServer:
    """A private redis-server whose wall clock is the real one plus ``offset_ms``."""

    def __init__(self, server: RedisServer, offset_file: Path) -> None:
        self.server = server
        self.offset_file = offset_file
        self.offset_ms = 0

    def set_offset(self, ms: int) -> None:
        self.offset_ms = ms
        fd = os.open(self.offset_file, os.O_WRONLY)
        try:
            os.pwrite(fd, struct.pack("<q", ms), 0)
        finally:
            os.close(fd)

    def step(self, ms: int) -> None:
        self.set_offset(self.offset_ms + ms)

    def now_ms(self, client: redis.Redis) -> int:
        seconds, micros = client.time()
        return int(seconds) * 1000 + int(micros) // 1000


@pytest.fixture(scope="module")
def stepped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SteppedServer]:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.fail("these tests build a clock shim with a C compiler (cc or gcc): install one")
    folder = tmp_path_factory.mktemp("clock")
    shim, offset_file = folder / "clock_shim.so", folder / "offset"
    subprocess.run(
        [compiler, "-shared", "-fPIC", "-O2", "-o", str(shim), str(SHIM_SOURCE), "-ldl"],
        check=True,
    )
    offset_file.write_bytes(struct.pack("<q", 0))
    # The child inherits the environment it is started with: set only around the start.
    saved = {name: os.environ.get(name) for name in ("LD_PRELOAD", "LOBBYSIM_CLOCK_OFFSET_FILE")}
    os.environ["LD_PRELOAD"] = str(shim)
    os.environ["LOBBYSIM_CLOCK_OFFSET_FILE"] = str(offset_file)
    try:
        server = RedisServer().start()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    try:
        yield SteppedServer(server, offset_file)
    finally:
        server.close()


@pytest.fixture
def clock(stepped: SteppedServer) -> Iterator[SteppedServer]:
    stepped.set_offset(0)
    yield stepped
    stepped.set_offset(0)


@pytest.fixture
def client(clock: SteppedServer) -> Iterator[redis.Redis]:
    with clock.server.client(socket_timeout=30) as c:
        yield c


def test_the_shim_steps_the_servers_clock(clock: SteppedServer, client: redis.Redis) -> None:
    before = clock.now_ms(client)
    clock.step(3_600_000)
    assert 3_600_000 <= clock.now_ms(client) - before < 3_660_000
    clock.step(-7_200_000)
    assert -3_600_000 <= clock.now_ms(client) - before < -3_540_000


def booked_call(store: LobbyStore) -> tuple[ScriptCall[Lobby], Lobby]:
    """A join that made its lobby, whose lobby was then filled and booked."""
    call = store._protocol.find_or_create_lobby("a", 2)
    first = store._run(call)
    store.find_or_create_lobby("b", 2)
    store.book_ticket(first.id)
    return call, first


def window_keys(client: redis.Redis, pool: str, window: int) -> list[str]:
    keys = PoolKeys.for_pool(pool)
    names = [keys.replay(WINDOW_MS, window, b) for b in range(REPLAY_BUCKETS)]
    return [n for n in names if client.exists(n)]


@pytest.mark.parametrize(
    "steps",
    [(-WINDOW_MS * 5 // 2,), (3 * WINDOW_MS, -3 * WINDOW_MS - WINDOW_MS // 2)],
    ids=["back-2.5-windows", "forward-3-then-back-3.5"],
)
def test_a_replay_after_the_clock_steps_back_gets_its_first_answer(
    clock: SteppedServer, client: redis.Redis, pool_name: str, steps: tuple[int, ...]
) -> None:
    store = LobbyStore(client, pool=pool_name, lobby_ttl=None, replay_window=WINDOW)
    for ms in steps[:-1]:
        clock.step(ms)
    window = clock.now_ms(client) // WINDOW_MS
    call, first = booked_call(store)
    clock.step(steps[-1])
    assert clock.now_ms(client) // WINDOW_MS < window - 1  # its window is not looked in

    assert store._run(call) == first  # the first answer: nobody placed again
    assert store.lobby_of("a") is None
    assert store.stats().bookings == 1

    # New answers still go to the latest window used, not to the clock's.
    late = store._protocol.find_or_create_lobby("c", 2)
    store._run(late)
    assert any(client.hexists(k, str(late.args[1])) for k in window_keys(client, pool_name, window))


def test_a_retry_later_than_its_window_never_makes_its_booked_lobby_again(
    clock: SteppedServer, client: redis.Redis, pool_name: str
) -> None:
    store = LobbyStore(client, pool=pool_name, lobby_ttl=None, replay_window=WINDOW)
    call, first = booked_call(store)
    clock.step(10 * WINDOW_MS)  # its answer is gone (the hash expired three windows on)

    with pytest.raises(JoinReplayTooLate) as refused:
        store._run(call)
    assert refused.value.lobby_id == first.id
    assert store.get_lobby(first.id) is None
    assert store.lobby_of("a") is None
    stats = store.stats()
    assert (stats.bookings, stats.joins, stats.lobbies_created) == (1, 2, 1)


def test_a_clock_far_behind_starts_windows_anew_and_still_books_once(
    clock: SteppedServer, client: redis.Redis, pool_name: str
) -> None:
    store = LobbyStore(client, pool=pool_name, lobby_ttl=None, replay_window=WINDOW)
    call, _ = booked_call(store)
    latest = int(client.hget(PoolKeys.for_pool(pool_name).meta, "jw") or 0)
    assert latest > 0
    clock.step(-(HOLD_WINDOWS + 4) * WINDOW_MS)
    now_window = clock.now_ms(client) // WINDOW_MS

    # Beyond the hold, the clock's own window is used again (answers do not pile up in
    # one window until the clock catches up); the latest window is not forgotten.
    fresh = store._protocol.find_or_create_lobby("c", 3)  # no open lobby of 2 for the retry
    store._run(fresh)
    assert any(
        client.hexists(k, str(fresh.args[1])) for k in window_keys(client, pool_name, now_window)
    )
    assert int(client.hget(PoolKeys.for_pool(pool_name).meta, "jw") or 0) == latest

    # The old call's answer is out of reach now, yet its booked lobby is never made again.
    # (Had an open lobby of 2 been there, the retry would have joined it: a retry whose
    # answer is gone is a new join, unless its first run made a lobby since booked.)
    with pytest.raises(JoinReplayTooLate):
        store._run(call)
    assert store.stats().bookings == 1
