"""A Redis Cluster node refuses a port above 55535 (its bus port is 10,000 higher): the
test servers' ports for cluster nodes stay below it."""

from __future__ import annotations

import pytest

import lobbysim.testing._servers as servers
from lobbysim.testing._servers import CLUSTER_PORT_LIMIT, RedisServer, free_port


class Asked(Exception):
    pass


def test_a_bounded_free_port_is_within_its_bound() -> None:
    # The kernel picks from 32768-60999 by default: about a fifth above the limit.
    assert all(free_port(CLUSTER_PORT_LIMIT) <= CLUSTER_PORT_LIMIT for _ in range(200))


@pytest.mark.parametrize(
    ("args", "bound"), [((), 65535), (("--cluster-enabled", "yes"), CLUSTER_PORT_LIMIT)]
)
def test_cluster_nodes_ask_for_a_port_a_cluster_can_use(
    monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], bound: int
) -> None:
    def asked(highest: int = 65535) -> int:
        raise Asked(highest)

    monkeypatch.setattr(servers, "free_port", asked)
    server = RedisServer(*args)
    with pytest.raises(Asked) as raised:  # before any process is started
        server.start(attempts=1)
    server.close()
    assert raised.value.args == (bound,)
