"""Every shell command of the README and of the docs site's pages, run as a user would copy it.

A user installs lobbysim and types the commands anywhere: so they run here in a fresh venv
holding the wheel built from this checkout with ``[all]`` (tests/wheel.py), from a temporary
directory outside the repository, through ``bash -c`` with that venv first on PATH (so
``"$(lobbysim load --locustfile)"`` works as written). The test only points them at private
servers (a redis-server, a 3-primary cluster, free ports for ``lobbysim serve`` and Locust's
master) and shortens their durations. A command that fails, or prints a traceback, fails
the suite. The commands that are not run say why in ``NOT_RUN``; a new command that matches
neither a runner nor ``NOT_RUN`` fails the test that lists them, so no page can grow an
untested command.
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lobbycore import LobbyStore, NaiveLobbyStore
from lobbysim.testing import RedisClusterProcesses, RedisServer, free_port
from tests.wheel import REPO, Venv, installed, outside_folder, run

VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
"""The README and the docs site's own pages (not the generated capacity reports)."""
README_URL = "redis://127.0.0.1:6379/0"
README_CLUSTER_URL = "redis://127.0.0.1:7000/0"
TIMES_TWO = "\u00d7 2"
"""How a page marks a command to start twice (a master's two workers)."""
SECONDS = "3s"
"""Every Locust run's -t, shortened."""
SHORTENED = {"-t": SECONDS, "--steps": "2", "--step-seconds": "2", "--duration": "2"}
CATCHING_SECONDS = "6s"
"""The -t of a run the page says exits 1 (a checker catching a broken service): it must
make enough calls to catch it after its users' ramp-up, on a loaded machine too."""
RUNS_HERE = ("lobbysim ", "locust ")
"""What a user types: the installed commands."""

NOT_RUN = {
    r"^make ": "a contributor's command in the checkout (make test is this suite, make demo "
    "opens the dashboard for a person; make lint and make docs run in CI)",
    r"^\.venv/bin/(python|pytest) ": "a contributor's command in the checkout's own venv: the test suite, or "
    "a benchmark script, which measures rather than tests",
    r"^pip install": "installing the wheel is what this test's fixture does (and "
    "test_install.py, the base install)",
    r"^lobbysim (demo|watch)\b(?!.*--headless)": "opens the dashboard for a person (its "
    "--headless twin runs here)",
    r"--web\b": "opens Locust's web UI for a person",
    r"--host http://127\.0\.0\.1:3000": "needs your own service (target files: test_serve.py)",
}


@dataclass(frozen=True)
class Command:
    line: str
    """The command as the page shows it, continuations joined, comment removed."""
    comment: str
    page: str

    @property
    def skipped_because(self) -> str | None:
        return next((why for rule, why in NOT_RUN.items() if re.search(rule, self.line)), None)

    @property
    def background(self) -> bool:
        return self.line.endswith("&")

    @property
    def expected_exit(self) -> int:
        return 1 if "exits 1" in self.comment else 0


def sh_blocks(page: Path) -> list[list[Command]]:
    """The commands of each ``sh`` block of a page."""
    text = page.read_text(encoding="utf-8")
    result = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        commands = []
        for raw in block.replace("\\\n", " ").splitlines():
            line, _, comment = raw.partition("#")
            if line.strip():
                commands.append(Command(" ".join(line.split()), comment.strip(), page.name))
        result.append(commands)
    return result


def all_commands() -> list[Command]:
    return [c for page in PAGES for block in sh_blocks(page) for c in block]


@dataclass(frozen=True)
class Run:
    """Commands run together, in one working directory: a block whose commands depend on
    each other (a server in the background, a master and its workers, a locust.conf), or
    one command alone. The same run on several pages is run once."""

    commands: tuple[Command, ...]
    conf: str | None = None
    """The page's ``locust.conf`` (its ``ini`` block), for a run that reads it."""

    @property
    def key(self) -> tuple[str, ...]:
        return tuple(c.line for c in self.commands)

    @property
    def id(self) -> str:
        return f"{self.commands[0].page}: {self.commands[-1].line[:70]}"

    @property
    def cluster(self) -> bool:
        return any(README_CLUSTER_URL in c.line for c in self.commands)

    @property
    def naive(self) -> bool:
        """The article's store lists every key of the database on each join (KEYS): on the
        shared server, full of the other runs' pools, a short run would check almost nothing."""
        return any("--strategy naive" in c.line for c in self.commands)


def runs() -> list[Run]:
    found: dict[tuple[str, ...], Run] = {}
    for page in PAGES:
        confs = re.findall(r"```ini\n(.*?)```", page.read_text(encoding="utf-8"), re.S)
        for block in sh_blocks(page):
            todo = [c for c in block if not c.skipped_because]
            together = any(
                c.background or has_flag(c.line, "--master") or TIMES_TWO in c.comment for c in todo
            )
            reads_conf = any("--config locust.conf" in c.line for c in todo)
            groups = [todo] if together or reads_conf else [[c] for c in todo]
            for group in groups:
                if group:
                    run = Run(tuple(group), confs[0] if reads_conf and confs else None)
                    found.setdefault(run.key, run)
    return list(found.values())


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venv]:
    """The wheel of this checkout with every extra, in a venv of its own."""
    own, _ = installed(tmp_path_factory.mktemp("wheel"), "[all]")
    yield own
    own.remove()


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    with RedisServer() as own:
        yield own


@pytest.fixture(scope="module")
def pools(server: RedisServer) -> None:
    """The pools the pages' audit and watch commands name, filled as a sale would fill them."""
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


def has_flag(line: str, flag: str) -> bool:
    """``flag`` as a word of the line (``--master``, not ``--master-host``)."""
    return re.search(rf"(?<!\S){re.escape(flag)}(?!\S)", line) is not None


def localized(line: str, url: str, ports: dict[str, str], catching: bool = False) -> str:
    """The page's command, pointed at the test's own servers and time budget; the shell
    still reads it as the user's line (quotes and ``$(...)`` untouched). ``catching``: a
    run expected to catch a broken guarantee, given longer."""
    line = line.replace(README_URL, url).replace(README_CLUSTER_URL, url)
    for page_port in ("8000", "8001"):
        line = line.replace(f"127.0.0.1:{page_port}", f"127.0.0.1:{ports[page_port]}")
        line = line.replace(f"--port {page_port}", f"--port {ports[page_port]}")
    for flag, value in SHORTENED.items():
        if flag == "-t" and catching:
            value = CATCHING_SECONDS
        line = re.sub(rf"(?<=\s){re.escape(flag)}\s+\S+", f"{flag} {value}", line)
    if " capacity " in line and "--step-seconds" not in line and "--quick" not in line:
        line += " --step-seconds 2"
    # Locust's master port (5557 by default) is the test's own, as the servers are.
    if has_flag(line, "--master") or has_flag(line, "--processes"):
        line += f" --master-bind-host 127.0.0.1 --master-bind-port {ports['master']}"
    if has_flag(line, "--worker") or has_flag(line, "--processes"):
        line += f" --master-port {ports['master']}"
    return line


def localized_conf(conf: str, url: str) -> str:
    conf = conf.replace(README_URL, url)
    return re.sub(r"^run-time = .*$", f"run-time = {SECONDS}", conf, flags=re.M)


def start(line: str, venv: Venv, cwd: Path) -> subprocess.Popen[str]:
    # exec: the signal that stops a background server reaches it, not the shell.
    return subprocess.Popen(
        ["bash", "-c", f"exec {line}"], cwd=cwd, env=venv.env(), text=True,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def finish(command: Command, process: subprocess.Popen[str], timeout: float = 300) -> None:
    stdout, stderr = process.communicate(timeout=timeout)
    output = stdout + stderr
    where = f"{command.page}: {command.line}\n{output[-3000:]}"
    assert process.returncode == command.expected_exit, where
    assert "Traceback" not in output, where


def wait_for_port(port: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"nothing listens on {port}")


def stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()


def run_commands(run: Run, url: str, venv: Venv, cwd: Path) -> None:
    """Background commands (``&``) are started and waited for first, stopped after; a
    ``--master`` command waits for the workers after it; a command marked "x 2" (times
    two) runs twice at once."""
    assert not cwd.resolve().is_relative_to(REPO)
    ports = {"8000": str(free_port()), "8001": str(free_port()), "master": str(free_port())}
    if run.conf is not None:
        (cwd / "locust.conf").write_text(localized_conf(run.conf, url))
    background: list[subprocess.Popen[str]] = []
    try:
        pending: list[tuple[Command, subprocess.Popen[str]]] = []
        for command in run.commands:
            line = localized(
                command.line.removesuffix("&").strip(), url, ports, command.expected_exit == 1
            )
            if command.background:
                process = start(line, venv, cwd)
                background.append(process)
                port = re.search(r"--port (\d+)", line)
                assert port, f"a background command without --port: {command.line}"
                wait_for_port(int(port.group(1)), process)
            elif has_flag(line, "--master"):
                pending.append((command, start(line, venv, cwd)))
            elif TIMES_TWO in command.comment:
                pending += [(command, start(line, venv, cwd)) for _ in range(2)]
                for waiting, process in pending:
                    finish(waiting, process)
                pending = []
            else:
                finish(command, start(line, venv, cwd))
        assert not pending, "a --master command without its workers"
    finally:
        for process in background:
            stop(process)


def test_the_commands_run_are_the_installed_wheel_s(venv: Venv, tmp_path: Path) -> None:
    """What the commands below import is the installed copy, every extra included, never
    this checkout, and its version is the project's."""
    outside = outside_folder(tmp_path)
    probe = "import lobbycore, simulator, locustfiles, lobbysim; print(simulator.__file__)"
    where = run(venv.bin("python"), "-c", probe, cwd=outside, env=venv.env())
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(venv.path)
    version = run(venv.bin("lobbysim"), "--version", cwd=outside, timeout=60, env=venv.env())
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"lobbysim {VERSION}"


def test_every_command_is_run_or_says_why_not() -> None:
    commands = all_commands()
    assert len(commands) > 40, "the pages' commands are missing"
    assert {c.page for c in commands} >= {"README.md", "locust.md", "http.md", "capacity.md"}
    strays = [
        c.line for c in commands if not c.skipped_because and not c.line.startswith(RUNS_HERE)
    ]
    assert strays == [], "neither run nor in NOT_RUN"
    unused = [r for r in NOT_RUN if not any(re.search(r, c.line) for c in commands)]
    assert unused == [], "a NOT_RUN rule no command needs"


def test_the_readme_shows_installed_commands_and_the_checkout_once() -> None:
    readme = [c for block in sh_blocks(REPO / "README.md") for c in block]
    checkout = [c.line for c in readme if c.line.startswith((".venv/", "make "))]
    assert "make demo" in checkout and "make test" in checkout
    blocks = [b for b in sh_blocks(REPO / "README.md") if any(c.line in checkout for c in b)]
    assert len(blocks) == 1, "the checkout's commands belong in one block, for contributors"
    assert any("$(lobbysim load --locustfile)" in c.line for c in readme)


@pytest.mark.parametrize("run", [r for r in runs() if not r.cluster], ids=lambda r: r.id)
def test_command_runs_from_the_installed_wheel(
    run: Run, venv: Venv, server: RedisServer, pools: None, tmp_path: Path
) -> None:
    if not run.naive:
        run_commands(run, server.url, venv, tmp_path)
        return
    with RedisServer() as empty:
        run_commands(run, empty.url, venv, tmp_path)


@pytest.mark.parametrize("run", [r for r in runs() if r.cluster], ids=lambda r: r.id)
def test_cluster_command_runs_from_the_installed_wheel(
    run: Run, venv: Venv, tmp_path: Path
) -> None:
    cluster = RedisClusterProcesses().start()
    try:
        run_commands(run, f"redis://127.0.0.1:{cluster.ports[0]}/0", venv, tmp_path)
    finally:
        cluster.close()
