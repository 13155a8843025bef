from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import fakeredis
import pytest

from lobbycore import AsyncLobbyStore, LobbyStore
from tests.conftest import Blocking

# Each facade is run over both RESP versions and both decode_responses settings.
FLAVOURS = [
    pytest.param(("sync", 2, False), id="sync-resp2-bytes"),
    pytest.param(("sync", 3, True), id="sync-resp3-str"),
    pytest.param(("async", 2, True), id="async-resp2-str"),
    pytest.param(("async", 3, False), id="async-resp3-bytes"),
]

StoreFactory = Callable[..., Blocking]


@pytest.fixture(params=FLAVOURS)
def make_store(request: pytest.FixtureRequest) -> Iterator[StoreFactory]:
    """make_store(pool=..., lobby_ttl=...) -> a store on one shared fake server, called blocking."""
    kind, protocol, decode = request.param
    server = fakeredis.FakeServer()
    loop = asyncio.new_event_loop() if kind == "async" else None

    def factory(**kwargs: Any) -> Blocking:
        kwargs.setdefault("lobby_ttl", None)
        if kind == "sync":
            client = fakeredis.FakeRedis(server=server, protocol=protocol, decode_responses=decode)
            return Blocking(LobbyStore(client, **kwargs), None)
        aclient = fakeredis.FakeAsyncRedis(
            server=server, protocol=protocol, decode_responses=decode
        )
        return Blocking(AsyncLobbyStore(aclient, **kwargs), loop)

    yield factory
    if loop is not None:
        loop.close()


@pytest.fixture
def store(make_store: StoreFactory) -> Blocking:
    return make_store()
