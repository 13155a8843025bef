"""A tiny threaded TCP proxy on a free loopback port, for failover tests.

It forwards every connection to its upstream port. ``blackhole()`` makes it swallow the
bytes of every connection, both ways, without closing anything: the two ends stay
connected and hear nothing, as across a network partition (a replication link cut this
way stays "up" on the replica and its acknowledgements never reach the primary).
``switch(port)`` closes every connection and sends the new ones to another server: the
clients behind it reconnect (redis-py's retries) to the new one, as after a DNS or
virtual-IP move. ``switch(None)`` refuses them meanwhile: once its server is dead, a port
must not be forwarded to, since another test may start a server on it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType

CHUNK = 65536


class Proxy:
    """Listens on 127.0.0.1:``port`` (a free one) and forwards to 127.0.0.1:``upstream``."""

    def __init__(self, upstream: int) -> None:
        self.upstream: int | None = upstream
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._swallow = False
        self._closed = False
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def blackhole(self) -> None:
        """From now on, every byte either way is dropped (connections stay open)."""
        self._swallow = True

    def switch(self, upstream: int | None) -> None:
        """Close every connection; new ones go to ``upstream`` (and are forwarded), or
        are closed at once if it is None."""
        with self._lock:
            self.upstream = upstream
            self._swallow = False
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            _close(*pair)

    def close(self) -> None:
        self._closed = True
        _close(self._listener)
        self.switch(self.upstream)
        self._acceptor.join(timeout=5)

    def _accept(self) -> None:
        while not self._closed:
            try:
                downstream, _ = self._listener.accept()
            except OSError:
                return  # the listener was closed
            with self._lock:
                upstream_port = self.upstream
            if upstream_port is None:
                _close(downstream)
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", upstream_port), timeout=2)
            except OSError:
                _close(downstream)  # nobody serves upstream: as a refused connection
                continue
            upstream.settimeout(None)
            for sock in (downstream, upstream):  # as Redis does: no Nagle delay on replies
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if upstream_port != self.upstream:  # switched meanwhile
                    _close(downstream, upstream)
                    continue
                self._pairs.append((downstream, upstream))
            for source, sink in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(CHUNK)
                if not data:
                    break
                if not self._swallow:
                    sink.sendall(data)
        except OSError:
            pass
        _close(source, sink)

    def __enter__(self) -> Proxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _close(*socks: socket.socket) -> None:
    for sock in socks:
        with contextlib.suppress(OSError):  # already closed by the other end
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
