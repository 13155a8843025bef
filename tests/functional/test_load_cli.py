"""``lobbysim load``: the bundled Locust scenarios run as a user runs them after a pip install,
from a directory outside the repository (``locustfiles/`` is not there), with the venv's
``lobbysim`` entry point.

Bounded: every run targets the test's private redis-server (or ``lobbysim serve`` on it) on
127.0.0.1 with at most 20 users for a few seconds. No rate or duration is asserted.
"""

from __future__ import annotations

import ast
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from lobbysim.cli.load import (
    HTTP,
    HTTP_SCENARIOS,
    LOBBY,
    SCENARIOS,
    STEP_LOAD,
    STEP_LOAD_SHAPE,
    installed_locustfile,
    locust_command,
    split,
)
from lobbysim.testing import RedisServer, free_port
from tests.functional.test_serve import serve

BIN = Path(sys.executable).parent
LOBBYSIM = str(BIN / "lobbysim")
SHORT = ["-u", "20", "-r", "20", "-t", "3s", "--only-summary"]
"""A run's load: 20 users for 3 s."""
DISTRIBUTED = ["-u", "20", "-r", "20", "-t", "5s", "--only-summary"]
"""A distributed run's: its workers connect first, on a busy machine that can take seconds."""
AUDIT = re.compile(r"^lobbysim audit: .*\bok=true\b.*\bjoins=([1-9]\d*)\b", re.M)


def load(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LOBBYSIM, "load", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def assert_audited(done: subprocess.CompletedProcess[str]) -> None:
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert AUDIT.search(done.stdout), output[-3000:]
    assert "Traceback" not in output, output[-3000:]


def master_port() -> list[str]:
    """A master port of the test's own (Locust's default 5557 is shared)."""
    port = str(free_port())
    return ["--master-bind-host", "127.0.0.1", "--master-bind-port", port, "--master-port", port]


# --- runs, from outside the repository -------------------------------------------------------


def test_runs_the_bundled_scenarios_from_any_directory(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """``locust -f locustfiles/lobby.py`` only worked in the checkout; no --headless given."""
    done = load("JoinStorm", *SHORT, "--redis-url", redis_server.url, cwd=tmp_path)
    assert_audited(done)


def test_locustfile_prints_the_installed_path_for_locust_f(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    done = load("--locustfile", cwd=tmp_path)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    path = Path(done.stdout.strip())
    assert path.is_absolute() and path.is_file() and path.parts[-2:] == ("locustfiles", LOBBY)
    http = Path(load("--http", "--locustfile", cwd=tmp_path).stdout.strip())
    assert http.is_file() and http.parts[-2:] == ("locustfiles", HTTP)
    both = load("--locustfile", STEP_LOAD_SHAPE, cwd=tmp_path).stdout.strip().split(",")
    assert [Path(p).name for p in both] == [LOBBY, STEP_LOAD]

    # As the README writes it, for users who run Locust themselves.
    line = f'locust -f "$(lobbysim load --locustfile)" --headless {" ".join(SHORT)} '
    line += f"--redis-url {redis_server.url} JoinStorm"
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "-c", line], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert_audited(done)


def test_step_load_is_added_like_a_scenario(redis_server: RedisServer, tmp_path: Path) -> None:
    done = load("JoinStorm", STEP_LOAD_SHAPE, *SHORT, "--redis-url", redis_server.url, cwd=tmp_path)
    assert_audited(done)
    assert "Shape test starting" in done.stderr, done.stderr[-3000:]


def test_http_scenarios_against_lobbysim_serve(
    redis_server: RedisServer, pool_name: str, tmp_path: Path
) -> None:
    with serve(redis_server, pool_name) as base:
        done = load("--http", "--host", base, *SHORT, cwd=tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert re.search(r"^lobbysim history check: ok=true .*\bcalls=[1-9]", done.stdout, re.M), (
        output[-3000:]
    )


def test_processes_run_through_it(redis_server: RedisServer, tmp_path: Path) -> None:
    done = load(
        "JoinStorm", "--processes", "2", *master_port(), *DISTRIBUTED,
        "--redis-url", redis_server.url, cwd=tmp_path,
    )  # fmt: skip
    assert_audited(done)
    assert "2 workers connected." in done.stderr, done.stderr[-3000:]


def test_a_master_and_a_worker_run_through_it(redis_server: RedisServer, tmp_path: Path) -> None:
    ports = master_port()
    master = [LOBBYSIM, "load", "--master", "--expect-workers", "1", *ports, *DISTRIBUTED]
    master += ["--redis-url", redis_server.url, "JoinStorm"]
    worker = [LOBBYSIM, "load", "--worker", "--master-host", "127.0.0.1", *ports[-2:]]
    processes = [
        subprocess.Popen(
            command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for command in (master, worker)
    ]
    try:
        (master_out, master_err), (_, worker_err) = (p.communicate(timeout=120) for p in processes)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert_audited(subprocess.CompletedProcess(master, processes[0].returncode, master_out,
                                               master_err))  # fmt: skip
    assert "1 workers connected." in master_err, master_err[-3000:]
    assert processes[1].returncode == 0, worker_err[-3000:]


@pytest.mark.parametrize("to", ["process", "group"])
def test_ctrl_c_stops_the_run_and_the_audit_still_prints(
    redis_server: RedisServer, tmp_path: Path, to: str
) -> None:
    """SIGINT to the process (``kill -INT``) or to its process group (Ctrl-C at a terminal)."""
    process = subprocess.Popen(
        [LOBBYSIM, "load", "JoinStorm", "-u", "20", "-r", "20", "-t", "60s", "--only-summary",
         "--redis-url", redis_server.url],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        seen = _read_until(process, "All users spawned", timeout=60)
        time.sleep(1.0)
        if to == "group":
            os.killpg(process.pid, signal.SIGINT)
        else:
            process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)  # generous: the run had a minute left
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    done = subprocess.CompletedProcess(process.args, process.returncode, out, seen + err)
    assert_audited(done)
    assert "--run-time limit reached" not in done.stderr  # stopped by the signal


def _read_until(process: subprocess.Popen[str], text: str, timeout: float) -> str:
    """stderr up to the first line holding ``text`` (that line included)."""
    assert process.stderr is not None
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        seen += line
        if not line or text in line:
            break
    assert text in seen, seen[-3000:]
    return seen


# --- what passes through, help, errors ------------------------------------------------------


def test_arguments_pass_through_in_order_and_after_double_dash_untouched() -> None:
    given = split(["-u", "5", "JoinStorm", "--http", "-t", "1m", "--web", "Churn", "--",
                   "--web", "--"])  # fmt: skip
    assert (given.http, given.web, given.print_path) == (True, True, False)
    assert given.locust == ["-u", "5", "JoinStorm", "-t", "1m", "Churn", "--web", "--"]


@pytest.mark.parametrize(
    ("args", "headless"),
    [
        (["JoinStorm"], True),
        (["--web", "JoinStorm"], False),
        (["--headless", "-u", "5"], True),
        (["--autostart"], False),
        (["--worker", "--master-host", "127.0.0.1"], False),
        (["--master", "--expect-workers", "2"], True),
    ],
)
def test_headless_unless_the_user_chose_how_the_run_starts(args: list[str], headless: bool) -> None:
    command = locust_command(split(args))
    assert command.count("--headless") == (1 if headless else 0)
    assert "--web" not in command
    assert command[command.index("-f") + 1] == str(installed_locustfile(LOBBY))


def test_other_commands_still_refuse_unknown_arguments_load_hands_them_to_locust(
    tmp_path: Path,
) -> None:
    race = subprocess.run(
        [LOBBYSIM, "race", "--no-such-option"], capture_output=True, text=True, timeout=60
    )
    assert race.returncode == 2
    assert race.stderr.startswith("lobbysim: error: unrecognized arguments: --no-such-option")
    done = load("--no-such-option", cwd=tmp_path)
    assert done.returncode != 0
    assert "locust: error: unrecognized arguments: --no-such-option" in done.stderr, done.stderr


def test_help_says_what_it_runs_and_how_to_reach_locusts_own(tmp_path: Path) -> None:
    done = load("--help", cwd=tmp_path)
    assert done.returncode == 0
    for text in [*SCENARIOS, STEP_LOAD_SHAPE, *HTTP_SCENARIOS, "--web", "--http", "--locustfile",
                 "lobbysim load -- --help", 'locust -f "$(lobbysim load --locustfile)"']:  # fmt: skip
        assert text in done.stdout, text
    locust = load("--", "--help", cwd=tmp_path)
    assert locust.returncode == 0, locust.stderr[-3000:]
    assert "--redis-url" in locust.stdout and "--arrival-rate" in locust.stdout
    assert "per Locust user (the run offers -u times this)" in " ".join(locust.stdout.split())


def test_the_listed_scenarios_are_the_locustfiles_ones() -> None:
    def classes(name: str) -> dict[str, list[str]]:
        tree = ast.parse(installed_locustfile(name).read_text(encoding="utf-8"))
        return {
            node.name: [ast.unparse(base) for base in node.bases]
            for node in tree.body
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_")
        }

    lobby = ast.parse(installed_locustfile(LOBBY).read_text(encoding="utf-8"))
    (exported,) = [
        ast.literal_eval(node.value)
        for node in lobby.body
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "__all__"
    ]
    assert sorted(exported) == sorted(SCENARIOS)
    assert [n for n, bases in classes(HTTP).items() if "FastHttpUser" in bases] == list(
        HTTP_SCENARIOS
    )
    assert STEP_LOAD_SHAPE in classes(STEP_LOAD)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--locustfile", "-u", "5"], "--locustfile prints the locustfile's path"),
        (["-f", "mine.py"], "for your own, run locust -f FILE"),
        (["--locustfile=mine.py"], "--locustfile"),
        (["--web", "--headless"], "give one"),
    ],
)
def test_bad_combinations_are_one_line_exit_2(args: list[str], says: str, tmp_path: Path) -> None:
    done = load(*args, cwd=tmp_path, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("lobbysim: error: ") and done.stderr.count("\n") == 1
    assert says in done.stderr, done.stderr


def test_without_locust_it_names_the_extra_in_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from lobbysim.cli import main

    def no_exec(*args: object) -> None:
        pytest.fail(f"Locust was started: {args}")

    monkeypatch.setattr(os, "execv", no_exec)
    monkeypatch.setitem(sys.modules, "locust", None)  # as if not installed
    assert main(["load", "JoinStorm"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "pip install 'lobbysim[load]'" in line


def test_the_command_imports_neither_locust_nor_the_locustfiles() -> None:
    code = (
        "import sys; from lobbysim.cli import main; main(['load', '--locustfile']); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'locust', 'locustfiles', 'gevent'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[-1] == "[]"


def test_web_opens_locusts_web_ui_instead(redis_server: RedisServer, tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [LOBBYSIM, "load", "--web", "--web-host", "127.0.0.1", "--web-port", str(port),
         "--redis-url", redis_server.url, "JoinStorm"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.communicate()[0][-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as page:
                    assert page.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "the web UI never answered"
                time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert "Traceback" not in output, output[-3000:]
