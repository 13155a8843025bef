"""One mistake, one message: the same bad value given to every command that takes it (and
to Locust's scenarios, which share the options) is refused with the identical line, exit 2,
before anything runs. The wording and the limits are lobbycore's own.

Locust exits 2 as well (its own usage errors, such as an unknown option, exit 2 too, but in
argparse's words; only our options' lines are asserted here). It also logs a "Starting Locust"
line to stderr first, so its stderr is searched for the error line rather than compared whole.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli import lobbysim

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = str(ROOT / "locustfiles" / "lobby.py")
BAD_URL = "redis://h:notaport/0"
SHOWN_URL = "redis://h:***/0"
"""How the bad URL is shown: a non-numeric port may be a password whose "@host" was forgot."""
"""Refused before anything is sent: no server is needed, none is reached."""
SOME_URL = ("--redis-url", "redis://127.0.0.1:1/0")
"""A well-formed URL for commands that require one; the bad value is refused before it is used."""

# The commands, each with what it needs besides the option under test.
COMMANDS: dict[str, list[str]] = {
    "demo": ["demo", "--headless", "--duration", "1"],
    "race": ["race", "--users", "4"],
    "watch": ["watch", "--headless", "--duration", "1", "--pool", "p"],
    "audit": ["audit", "--pool", "p"],
    "capacity": ["capacity", "--out", "unused-out"],
    "serve": ["serve", "--port", "1"],
}
TAKES_MAX_USERS = ("demo", "race", "audit", "capacity")
NEEDS_A_URL = ("audit",)

CASES = [
    (
        "--max-users",
        "0",
        "lobbysim: error: --max-users must be in 1..1000, got 0",
        TAKES_MAX_USERS,
    ),
    (
        "--max-users",
        "100000",
        "lobbysim: error: --max-users must be in 1..1000, got 100000",
        TAKES_MAX_USERS,
    ),
    (
        "--redis-url",
        BAD_URL,
        f"lobbysim: error: bad Redis URL '{SHOWN_URL}': the port must be a number from 1 to 65535",
        tuple(COMMANDS),
    ),
]
PARAMS = [
    pytest.param(flag, value, line, command, id=f"{command} {flag} {value}")
    for flag, value, line, commands in CASES
    for command in commands
]


def environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "REDIS_URL"}


@pytest.mark.parametrize(("flag", "value", "line", "command"), PARAMS)
def test_every_command_says_the_same_line(
    flag: str, value: str, line: str, command: str, tmp_path: Path
) -> None:
    args = [*COMMANDS[command], flag, value]
    if command in NEEDS_A_URL and flag != "--redis-url":
        args += SOME_URL
    result = subprocess.run(
        [sys.executable, "-m", "lobbysim.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,  # capacity would create its --out folder here, were it to get that far
        env=environment(),
    )
    assert (result.returncode, result.stderr, result.stdout) == (2, f"{line}\n", "")
    assert not (tmp_path / "unused-out").exists()


@pytest.mark.parametrize("command", ["demo", "watch", "capacity", "serve"])
def test_the_same_url_from_redis_url_says_the_same_line(command: str, tmp_path: Path) -> None:
    result = lobbysim(*COMMANDS[command], env={**environment(), "REDIS_URL": BAD_URL})
    line = (
        f"lobbysim: error: bad Redis URL '{SHOWN_URL}': the port must be a number from 1 to 65535"
    )
    assert (result.returncode, result.stderr) == (2, f"{line}\n")


@pytest.mark.parametrize(("flag", "value", "line"), [case[:3] for case in CASES])
def test_locust_says_the_same_line(flag: str, value: str, line: str) -> None:
    # Locust's own --redis-url default is the Redis on 6379: never left to it here.
    url = [] if flag == "--redis-url" else list(SOME_URL)
    result = subprocess.run(
        [sys.executable, "-m", "locust", "-f", LOCUSTFILE, "--headless", "-u", "1", "-r", "1",
         "-t", "2s", *url, flag, value],
        capture_output=True, text=True, timeout=120, check=False, env=environment(),
    )  # fmt: skip
    errors = [text for text in result.stderr.splitlines() if text.startswith("lobbysim: error:")]
    assert errors == [line], result.stderr
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
