"""Start and stop private redis-server processes (re-exported by ``lobbysim.testing``).

Each server listens on a free loopback port, keeps nothing on disk (unless asked) and is
killed at the end. Nothing here ever connects to a server it did not start.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

INSTALL_HINT = (
    "redis-server was not found on PATH. `make test` installs it (Debian: apt-get install "
    "redis-server); the real-Redis tests never skip."
)


def make_self_signed_cert(folder: Path) -> Path:
    """cert.pem + key.pem for 127.0.0.1 in ``folder`` (needs the openssl command)."""
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem"),
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return folder


CLUSTER_PORT_LIMIT = 55535
"""The highest port a Redis Cluster node may listen on (its bus port is 10,000 higher)."""


def free_port(highest: int = 65535) -> int:
    """A free loopback port, at most ``highest`` (the kernel's picks are tried until one is)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port <= highest:
            return port


class RedisServer:
    """A redis-server child process on 127.0.0.1:<free port>."""

    def __init__(
        self, *extra_args: str, binary: str | None = None, tls: Path | None = None
    ) -> None:
        """``tls``: a folder holding cert.pem and key.pem; the server then speaks TLS only."""
        found = binary or shutil.which("redis-server")
        if found is None:
            raise RuntimeError(INSTALL_HINT)
        self.binary = found
        self.extra_args = extra_args
        self.tls = tls
        self.dir = Path(tempfile.mkdtemp(prefix="lobbysim-redis-"))
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{'rediss' if self.tls else 'redis'}://127.0.0.1:{self.port}/0"

    def client(self, **kwargs: object) -> redis.Redis:
        if self.tls:
            kwargs = {"ssl": True, "ssl_ca_certs": str(self.tls / "cert.pem"), **kwargs}
        return redis.Redis(host="127.0.0.1", port=self.port, **kwargs)  # type: ignore[arg-type]

    def _tls_args(self) -> tuple[str, ...]:
        if not self.tls:
            return ()
        cert, key = str(self.tls / "cert.pem"), str(self.tls / "key.pem")
        return (
            "--port", "0", "--tls-port", str(self.port), "--tls-cert-file", cert,
            "--tls-key-file", key, "--tls-ca-cert-file", cert, "--tls-auth-clients", "no",
        )  # fmt: skip

    def start(self, attempts: int = 5, port: int | None = None) -> RedisServer:
        if self.process is not None and self.process.poll() is None:
            # A second process would replace the first in self.process: close() would stop
            # only the second and delete the directory the first still runs in.
            raise RuntimeError("this redis-server is already running (the with block starts it)")
        for _ in range(attempts):
            highest = CLUSTER_PORT_LIMIT if "--cluster-enabled" in self.extra_args else 65535
            self.port = port or free_port(highest)
            self.process = subprocess.Popen(
                [
                    self.binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.dir),
                    "--logfile",
                    str(self.dir / "redis.log"),
                    *self._tls_args(),
                    *self.extra_args,
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if self._wait_ready():
                return self
            self.stop()
        raise RuntimeError(f"could not start redis-server; see {self.dir / 'redis.log'}")

    def _wait_ready(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False  # exited: most likely the port was taken meanwhile
            try:
                # No retries of its own: redis-py's default backs off 1 s and more between
                # them, while the server is listening a few ms after it starts.
                with self.client(socket_timeout=1, retry=Retry(NoBackoff(), 0)) as probe:
                    if probe.ping():
                        return True
            except redis.ConnectionError:
                time.sleep(0.02)
        return False

    def follow(self, primary: RedisServer, timeout: float = 30.0) -> None:
        """Make this server a replica of ``primary`` and wait until its link is up (its
        first sync done), at most ``timeout`` seconds: a primary started with
        ``--repl-diskless-sync-delay 0`` syncs at once (Redis 7 waits 5 s by default)."""
        with self.client(socket_timeout=10) as follower:
            follower.replicaof("127.0.0.1", str(primary.port))
            deadline = time.monotonic() + timeout
            while follower.info("replication").get("master_link_status") != "up":
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the replica on port {self.port} did not sync in time")
                time.sleep(0.05)

    def restart(self) -> None:
        """Stop (SIGTERM: an AOF is flushed) and start again on the same port and directory."""
        self.stop()
        self.start(attempts=20, port=self.port)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """SIGKILL (``kill -9``): the process dies at once, flushing and telling nothing, as
        in a crash. ``close()`` still removes its directory."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class RedisClusterProcesses:
    """A real Redis Cluster of `primaries` redis-server processes on free loopback ports,
    each with `replicas` replicas (0: none), in `nodes` (the primaries first as created;
    roles change with a failover: see :meth:`primaries` and :meth:`replica_of`).
    ``node_timeout_ms``: the nodes' ``cluster-node-timeout`` (Redis's default, 15 s,
    when None): how long a primary may be unreachable before its replica takes over."""

    def __init__(
        self,
        primaries: int = 3,
        *,
        replicas: int = 0,
        node_timeout_ms: int | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        """``extra_args``: more redis-server arguments for every node."""
        # A replica's first full sync starts at once (Redis 7 waits 5 s for more replicas).
        args = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
        args += ["--repl-diskless-sync-delay", "0"]
        if node_timeout_ms is not None:
            args += ["--cluster-node-timeout", str(node_timeout_ms)]
        args += extra_args
        self.replicas = replicas
        self.nodes = [RedisServer(*args) for _ in range(primaries * (1 + replicas))]

    @property
    def ports(self) -> list[int]:
        return [node.port for node in self.nodes]

    def start(self) -> RedisClusterProcesses:
        for node in self.nodes:
            node.start()
        subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *(f"127.0.0.1:{p}" for p in self.ports),
                "--cluster-replicas",
                str(self.replicas),
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.settled():
                return self
            time.sleep(0.1)
        raise RuntimeError("the test cluster did not reach cluster_state:ok")

    def settled(self) -> bool:
        """Every running node says cluster_state:ok, knows every node as a primary or a
        replica (none failing), and every replica's link to its primary is up."""
        running = [node for node in self.nodes if node.process is not None]
        for node in running:
            with node.client(socket_timeout=2) as client:
                if client.cluster("info").get("cluster_state") != "ok":
                    return False
                flags = [n["flags"] for n in client.cluster("nodes").values() if n["connected"]]
                if sum(1 for f in flags if "fail" not in f) < len(running):
                    return False
                info = client.info("replication")
                if info["role"] == "slave" and info.get("master_link_status") != "up":
                    return False
        return True

    def role(self, node: RedisServer) -> str:
        """``master`` or ``slave``, as the node says (ROLE)."""
        with node.client(socket_timeout=2) as client:
            return str(client.info("replication")["role"])

    def primaries(self) -> list[RedisServer]:
        """The running nodes that are primaries now."""
        return [n for n in self.nodes if n.process is not None and self.role(n) == "master"]

    def replica_of(self, primary: RedisServer) -> RedisServer:
        """A running replica of ``primary`` (by its replication link)."""
        for node in self.nodes:
            if node.process is None or node is primary:
                continue
            with node.client(socket_timeout=2) as client:
                info = client.info("replication")
            if info["role"] == "slave" and int(info["master_port"]) == primary.port:
                return node
        raise LookupError(f"no running replica of 127.0.0.1:{primary.port}")

    def close(self) -> None:
        for node in self.nodes:
            node.close()
