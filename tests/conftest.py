from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from lobbysim.testing import RedisServer


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A private redis-server for the whole session (never the one on 6379)."""
    try:
        server = RedisServer().start()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis_server.client(socket_timeout=30)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def pool_name() -> str:
    """A fresh pool per test, so tests never see each other's keys."""
    return f"t-{uuid.uuid4().hex[:12]}"


class Blocking:
    """Calls a store's methods and waits for them: lets one test body cover sync and async."""

    def __init__(self, store: Any, loop: asyncio.AbstractEventLoop | None) -> None:
        self.store = store
        self.loop = loop

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.store, name)
        if self.loop is None or not callable(attr):
            return attr
        loop = self.loop

        def call(*args: Any, **kwargs: Any) -> Any:
            return loop.run_until_complete(attr(*args, **kwargs))

        return call
