"""Private redis-server processes for tests and benchmarks.

Each server is a child process on a free 127.0.0.1 port with its own temporary directory,
and is stopped and removed by ``close()`` (or the ``with`` block). Nothing here connects to
a server it did not start, so a Redis you already run (such as one on 6379) is never touched.
Needs ``redis-server`` on the PATH (and ``redis-cli`` for a cluster, ``openssl`` for TLS).
Standard library and redis-py only.
"""

from ._servers import RedisClusterProcesses, RedisServer, free_port, make_self_signed_cert

__all__ = [
    "RedisClusterProcesses",
    "RedisServer",
    "free_port",
    "make_self_signed_cert",
]
