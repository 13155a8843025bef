"""The test servers themselves: a redis-server started by the tests never outlives them."""

from __future__ import annotations

import pytest

from lobbysim.testing import RedisServer


def test_a_running_server_refuses_a_second_start_and_close_stops_it() -> None:
    server = RedisServer()
    with server:
        first = server.process
        assert first is not None and first.poll() is None
        with pytest.raises(RuntimeError, match="already running"):
            server.start()
        assert server.process is first
    assert first.wait(timeout=30) is not None  # stopped, not orphaned
    assert not server.dir.exists()
