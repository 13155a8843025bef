"""The dashboard names what an outage is: Redis out of reach, writes the replicas did not
confirm (they may or may not survive a failover), or a refusal; never all "disconnected"."""

from __future__ import annotations

import pytest
import redis

from lobbycore import NotConfirmed, ServerRefused
from simulator.clients import RedisClients
from simulator.source import DISCONNECTED, NOT_CONFIRMED, REFUSED, LiveSource, outage_kind


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (redis.ConnectionError("Connection refused"), DISCONNECTED),
        (OSError("network is unreachable"), DISCONNECTED),
        (NotConfirmed("lobby", 0, 1, 0.2), NOT_CONFIRMED),
        (ServerRefused("READONLY", "You can't write against a read only replica."), REFUSED),
    ],
)
def test_an_outage_is_named_by_its_cause(exc: BaseException, kind: str) -> None:
    assert outage_kind(exc) == kind
    clients = RedisClients(async_client=None, sync_client=None, where="test", embedded=True)
    source = LiveSource(clients, "p", store=None)  # type: ignore[arg-type]  # not called
    source.lost(exc)
    assert source.outage == kind and source.log[-1].split(" ", 1)[1].startswith(kind)
