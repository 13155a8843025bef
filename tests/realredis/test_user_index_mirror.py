"""The scripts put each user in the user index bucket lobbycore._keys names for them, for ids
of every length the bucket hash treats apart (under 8 bytes, 8 to 15, 16 and more, the
longest, multibyte) and for buckets of one to four digits, on a real server's Lua."""

from __future__ import annotations

import redis

from lobbycore import LobbyStore
from lobbycore._keys import PoolKeys, _user_bucket
from lobbycore.defaults import MAX_ID_BYTES

IDS = [
    *("u" * n for n in range(1, 41)),
    *(f"{i:03d}-" + "é" * (i % 20) for i in range(300)),
    "x" * MAX_ID_BYTES,
    "é" * (MAX_ID_BYTES // 2),
    "d2900",  # buckets of one digit: a short id, and one of 16 bytes or more
    "long-user-00001750",
]


def test_every_user_is_in_the_bucket_python_names(
    redis_client: redis.Redis, pool_name: str
) -> None:
    store = LobbyStore(redis_client, pool=pool_name, lobby_ttl=None)
    keys = PoolKeys.for_pool(pool_name)
    buckets = {_user_bucket(user) for user in IDS}
    assert min(buckets) < 10 and max(buckets) >= 1000 and len(buckets) > 200  # 1 to 4 digits
    assert any(10 <= b < 100 for b in buckets) and any(100 <= b < 1000 for b in buckets)
    for user in IDS:
        lobby = store.find_or_create_lobby(user, 50)
        assert redis_client.hget(keys.user_index_of(user), user) == lobby.id.encode(), user
