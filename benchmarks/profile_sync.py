"""Profile the sync join path that Locust uses (pyinstrument), against a private redis-server.

    .venv/bin/python benchmarks/profile_sync.py

Prints where a process spends its time over 20,000 sequential joins: most of it should be
waiting for Redis (socket reads), not in lobbycore.
"""

from __future__ import annotations

from pyinstrument import Profiler

from lobbycore import LobbyStore, connect
from lobbysim.testing import RedisServer

JOINS = 20_000


def main() -> None:
    with RedisServer() as server:
        store = LobbyStore(connect(server.url), pool="profile", lobby_ttl=600.0)
        store.find_or_create_lobby("warm-up", 4)
        profiler = Profiler(interval=0.0002)
        profiler.start()
        for i in range(JOINS):
            store.find_or_create_lobby(f"buyer-{i}", 4)
        profiler.stop()
    print(profiler.output_text(unicode=True, color=False, show_all=False))


if __name__ == "__main__":
    main()
