"""Every shell command of the README, run as a user would copy it.

The README keeps the commands a user types; this test only points them at private servers
(a redis-server, a 3-primary cluster, free ports for ``lobbysim serve``), shortens their
durations, and writes their output files under a temporary folder. A command that fails,
or prints a traceback, fails the suite. The few commands that are not run say why in
``NOT_RUN``; a new command that matches neither a runner nor ``NOT_RUN`` fails the test
that lists them, so the README cannot grow an untested command.
"""

from __future__ import annotations

import re
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lobbycore import LobbyStore, NaiveLobbyStore
from lobbysim_testing import RedisClusterProcesses, RedisServer, free_port

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
BIN = Path(sys.executable).parent
"""Where this test's own ``lobbysim`` and ``locust`` are (the README says .venv/bin)."""
README_URL = "redis://127.0.0.1:6379/0"
README_CLUSTER_URL = "redis://127.0.0.1:7000/0"
TIMES_TWO = "\u00d7 2"
"""How the README marks a command to start twice (a master's two workers)."""
SECONDS = "3s"
"""Every Locust run's -t, shortened."""

NOT_RUN = {
    "make demo": "opens the dashboard for a person (its headless twin runs in test_demo.py)",
    "make test": "is this test suite",
    "make bench": "a benchmark: it measures, it does not test (see Benchmark)",
    "pip install": "installing is tested by test_install.py (a built wheel in a fresh venv)",
    "benchmarks/": "a benchmark script: it measures, it does not test (see Benchmark)",
    "-m pytest": "is this test suite",
    "--host http://127.0.0.1:3000": "needs your own service (target files: test_serve.py)",
}


@dataclass(frozen=True)
class Command:
    line: str
    """The command as the README shows it, continuations joined, comment removed."""
    comment: str

    @property
    def skipped_because(self) -> str | None:
        return next((why for key, why in NOT_RUN.items() if key in self.line), None)


def readme_commands() -> list[list[Command]]:
    """The commands of each ``sh`` block of the README."""
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    result = []
    for block in blocks:
        commands = []
        for raw in block.replace("\\\n", " ").splitlines():
            line, _, comment = raw.partition("#")
            if line.strip():
                commands.append(Command(" ".join(line.split()), comment.strip()))
        result.append(commands)
    return result


def ini_blocks() -> list[str]:
    return re.findall(r"```ini\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    with RedisServer() as own:
        yield own


@pytest.fixture(scope="module")
def pools(server: RedisServer) -> None:
    """The pools the README's audit commands name, filled as a sale would fill them."""
    client = server.client()
    plain = LobbyStore(client, pool="ticket", lobby_ttl=None)
    sharded = LobbyStore(client, pool="ticket", lobby_ttl=None, shards=4)
    sharded.set_seats(5000)
    naive = NaiveLobbyStore(client, pool="ticket")
    for i in range(40):
        plain.find_or_create_lobby(f"fan-{i}", 4)
        sharded.find_or_create_lobby(f"fan-{i}", 4)
        naive.find_or_create_lobby(f"fan-{i}", 4)
    full = next(lobby for lobby in (sharded.lobby_of(f"fan-{i}") for i in range(40)) if lobby)
    if full.is_full:
        sharded.book_ticket(full.id)


def localized(line: str, url: str, out: Path, ports: dict[str, str]) -> list[str]:
    """The README's command, pointed at the test's own servers, files and time budget."""
    line = line.replace(README_URL, url).replace(README_CLUSTER_URL, url)
    line = line.replace(" out/", f" {out}/")
    for readme_port, port in ports.items():
        if not readme_port.isdecimal():
            continue
        line = line.replace(f"127.0.0.1:{readme_port}", f"127.0.0.1:{port}")
        line = line.replace(f"--port {readme_port}", f"--port {port}")
    args = shlex.split(line)
    if args[0].startswith(".venv/bin/"):
        args[0] = str(BIN / args[0].removeprefix(".venv/bin/"))
    shortened = {"-t": SECONDS, "--steps": "2", "--step-seconds": "2", "--duration": "2"}
    for i, arg in enumerate(args[:-1]):
        if arg in shortened:
            args[i + 1] = shortened[arg]
    if "capacity" in args and "--step-seconds" not in args and "--quick" not in args:
        args += ["--step-seconds", "2"]
    # Locust's master port (5557 by default) is the test's own, as the servers are.
    master = ports["master"]
    if "--master" in args or "--processes" in args:
        args[1:1] = ["--master-bind-host", "127.0.0.1", "--master-bind-port", master]
    if "--worker" in args or "--processes" in args:
        args[1:1] = ["--master-port", master]
    return args


def run(args: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


def wait_for_port(port: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"nothing listens on {port}")


def expected_exit(command: Command) -> int:
    return 1 if "exits 1" in command.comment else 0


def assert_ran(command: Command, done: subprocess.CompletedProcess[str]) -> None:
    output = done.stdout + done.stderr
    assert done.returncode == expected_exit(command), f"{command.line}\n{output[-3000:]}"
    assert "Traceback" not in output, f"{command.line}\n{output[-3000:]}"


def run_block(commands: list[Command], url: str, out: Path) -> None:
    """One README block: background commands (``&``) are started first and stopped after;
    a command marked "x 2" (times two) runs twice, beside the one before it (a master and its
    workers)."""
    ports = {"8000": str(free_port()), "8001": str(free_port()), "master": str(free_port())}
    background: list[subprocess.Popen[str]] = []
    try:
        pending: list[tuple[Command, subprocess.Popen[str]]] = []
        for command in commands:
            if command.skipped_because:
                continue
            line = command.line.removesuffix("&").strip()
            args = localized(line, url, out, ports)
            if command.line.endswith("&"):
                process = subprocess.Popen(args, cwd=ROOT, text=True, stdout=subprocess.PIPE,
                                           stderr=subprocess.STDOUT)  # fmt: skip
                background.append(process)
                wait_for_port(int(args[args.index("--port") + 1]), process)
            elif "--master" in args:
                pending.append((command, subprocess.Popen(args, cwd=ROOT, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)))  # fmt: skip
            elif TIMES_TWO in command.comment:
                for _ in range(2):
                    pending.append((command, subprocess.Popen(args, cwd=ROOT, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)))  # fmt: skip
                for waiting, process in pending:
                    stdout, stderr = process.communicate(timeout=300)
                    done = subprocess.CompletedProcess(args, process.returncode, stdout, stderr)
                    assert_ran(waiting, done)
                pending = []
            else:
                assert_ran(command, run(args))
        assert not pending, "a --master command without its workers"
    finally:
        for process in background:
            process.terminate()
            try:
                process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()


def test_every_command_is_run_or_says_why_not() -> None:
    commands = [c for block in readme_commands() for c in block]
    assert len(commands) > 20, "the README's commands are missing"
    run_here = [c for c in commands if not c.skipped_because]
    assert all(c.line.startswith((".venv/bin/lobbysim", ".venv/bin/locust")) for c in run_here), [
        c.line for c in run_here if not c.line.startswith(".venv/bin/")
    ]


def cluster_blocks() -> list[list[Command]]:
    return [b for b in readme_commands() if any(README_CLUSTER_URL in c.line for c in b)]


def server_blocks() -> list[list[Command]]:
    return [
        b
        for b in readme_commands()
        if b not in cluster_blocks() and any(not c.skipped_because for c in b)
    ]


@pytest.mark.parametrize(
    "block", server_blocks(), ids=lambda b: next(c for c in b if not c.skipped_because).line[:60]
)
def test_readme_block_runs_against_a_private_server(
    block: list[Command], server: RedisServer, pools: None, tmp_path: Path
) -> None:
    run_block(block, server.url, tmp_path)


@pytest.mark.parametrize("block", cluster_blocks(), ids=lambda b: b[0].line[:60])
def test_readme_cluster_block_runs_against_a_private_cluster(
    block: list[Command], tmp_path: Path
) -> None:
    cluster = RedisClusterProcesses().start()
    try:
        run_block(block, f"redis://127.0.0.1:{cluster.ports[0]}/0", tmp_path)
    finally:
        cluster.close()


def test_readme_locust_conf_runs(server: RedisServer, tmp_path: Path) -> None:
    (conf,) = ini_blocks()
    conf = conf.replace(README_URL, server.url)
    conf = re.sub(r"^run-time = .*$", f"run-time = {SECONDS}", conf, flags=re.M)
    path = tmp_path / "locust.conf"
    path.write_text(conf)
    done = run([str(BIN / "locust"), "--config", str(path)])
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "lobbysim audit:" in done.stdout and "Traceback" not in done.stderr
