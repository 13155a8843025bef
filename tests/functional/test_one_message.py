"""One mistake, one message: the same bad value given to every command that takes it (and
to Locust's scenarios, which share the options) is refused with the identical line, exit 2,
before anything runs. The options are defined once (lobbysim.run.options), with lobbycore's
limits and wording.

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
LOCUSTFILES = ROOT / "locustfiles"
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
NEEDS_A_URL = ("audit",)
SEATS_MAX = 2**53 - 1

# (what is given, the one line every taker says, the commands taking it, the locustfiles
# taking it). Each option is defined once (lobbysim.run.options); a rule between two options
# (the naive strategy has no shards) is written once (lobbycore.validate).
Case = tuple[tuple[str, ...], str, tuple[str, ...], tuple[str, ...]]
CASES: list[Case] = [
    (
        ("--max-users", "0"),
        "lobbysim: error: --max-users must be in 1..1000, got 0",
        ("demo", "race", "audit", "capacity"),
        ("lobby", "http"),
    ),
    (
        ("--max-users", "100000"),
        "lobbysim: error: --max-users must be in 1..1000, got 100000",
        ("demo", "race", "audit", "capacity"),
        ("lobby", "http"),
    ),
    (
        ("--shards", "0"),
        "lobbysim: error: --shards must be in 1..1024, got 0",
        ("watch", "audit", "capacity"),
        ("lobby",),
    ),
    (
        ("--strategy", "naive", "--shards", "3"),
        "lobbysim: error: --shards must be 1 with the naive strategy (it has no shards), got 3",
        ("audit",),  # as --naive --shards 3 (audit reads a pool: --naive names its layout)
        ("lobby",),
    ),
    (
        ("--seats", "-5"),
        f"lobbysim: error: --seats must be in 0..{SEATS_MAX}, got -5",
        ("demo", "serve"),
        ("lobby", "http"),
    ),
    (
        ("--lobby-ttl", "0"),
        "lobbysim: error: --lobby-ttl must be in (0, 3.1536e+08], got 0",
        ("demo", "serve"),
        ("lobby",),
    ),
    (
        ("--strategy", "fast"),
        "lobbysim: error: --strategy expected one of atomic, naive, got 'fast'",
        ("demo", "serve", "capacity"),
        ("lobby",),
    ),
    (
        ("--redis-url", BAD_URL),
        f"lobbysim: error: bad Redis URL '{SHOWN_URL}': the port must be a number from 1 to 65535",
        tuple(COMMANDS),
        ("lobby",),
    ),
]
PARAMS = [
    pytest.param(given, line, command, id=f"{command} {' '.join(given)}")
    for given, line, commands, _ in CASES
    for command in commands
]
LOCUST_PARAMS = [
    pytest.param(given, line, locustfile, id=f"{locustfile}.py {' '.join(given)}")
    for given, line, _, locustfiles in CASES
    for locustfile in locustfiles
]


def in_words_of(command: str, given: tuple[str, ...]) -> list[str]:
    """The options as ``command`` spells them (audit names the naive layout --naive)."""
    if command == "audit" and given[:2] == ("--strategy", "naive"):
        return ["--naive", *given[2:]]
    return list(given)


def environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "REDIS_URL"}


@pytest.mark.parametrize(("given", "line", "command"), PARAMS)
def test_every_command_says_the_same_line(
    given: tuple[str, ...], line: str, command: str, tmp_path: Path
) -> None:
    args = [*COMMANDS[command], *in_words_of(command, given)]
    if command in NEEDS_A_URL and "--redis-url" not in given:
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


@pytest.mark.parametrize(("given", "line", "locustfile"), LOCUST_PARAMS)
def test_locust_says_the_same_line(given: tuple[str, ...], line: str, locustfile: str) -> None:
    # Locust's own --redis-url default is the Redis on 6379: never left to it here. The HTTP
    # scenarios talk to a service, not to Redis (their --host is never reached either).
    if locustfile == "http":
        where = ["--host", "http://127.0.0.1:1"]
    else:
        where = [] if "--redis-url" in given else list(SOME_URL)
    result = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(LOCUSTFILES / f"{locustfile}.py"),
         "--headless", "-u", "1", "-r", "1", "-t", "2s", *where, *given],
        capture_output=True, text=True, timeout=120, check=False, env=environment(),
    )  # fmt: skip
    errors = [text for text in result.stderr.splitlines() if text.startswith("lobbysim: error:")]
    assert errors == [line], result.stderr
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr


WAIT_CASES = [
    (("--wait-replicas", "-1"), "--wait-replicas must be in 0..100, got -1", ("demo", "race", "serve")),
    (("--wait-timeout", "0"), "--wait-timeout must be in (0, 4], got 0", ("demo", "race", "serve")),
    (
        ("--strategy", "naive", "--wait-replicas", "1"),
        "--wait-replicas needs the atomic strategy (the naive one has no WAIT)",
        ("demo", "serve"),
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("given", "line", "command"),
    [
        pytest.param(given, line, command, id=f"{command} {' '.join(given)}")
        for given, line, commands in WAIT_CASES
        for command in commands
    ],
)
def test_the_durability_options_say_the_same_line_in_every_command(
    given: tuple[str, ...], line: str, command: str
) -> None:
    result = lobbysim(*COMMANDS[command], *given, env=environment())
    assert (result.returncode, result.stderr, result.stdout) == (
        2,
        f"lobbysim: error: {line}\n",
        "",
    )


# -- the Redis URL rule: --redis-url, else REDIS_URL, for every command that talks to Redis --

TALKS_TO_REDIS: dict[str, list[str]] = {
    "demo": ["demo", "--headless", "--duration", "1"],
    "race": ["race", "--users", "4"],
    "watch": ["watch", "--headless", "--duration", "1", "--pool", "p"],
    "audit": ["audit", "--pool", "p"],
    "capacity": ["capacity", "--out", "unused-out"],
    "serve": ["serve", "--port", "1"],
    "load": ["load", "JoinStorm", "--headless", "-u", "1", "-r", "1", "-t", "2s"],
    "locust": ["-f", str(LOCUSTFILES / "lobby.py"), "--headless", "-u", "1", "-r", "1",
               "-t", "2s", "JoinStorm"],
}  # fmt: skip
REFUSED_URL = "redis://127.0.0.1:1/0"
"""Well-formed, but nothing listens on port 1: refused at once (never port 6379)."""


def error_lines(command: str, url: str, source: str, cwd: Path) -> tuple[int, list[str]]:
    """Exit status and "lobbysim: error:" lines of ``command`` given ``url`` by ``source``
    (the flag, or REDIS_URL). Locust logs other lines to stderr first: only ours are kept."""
    args = [*TALKS_TO_REDIS[command], *(["--redis-url", url] if source == "flag" else [])]
    env = {**environment(), **({"REDIS_URL": url} if source == "env" else {})}
    program = ["-m", "locust"] if command == "locust" else ["-m", "lobbysim.cli"]
    result = subprocess.run(
        [sys.executable, *program, *args],
        capture_output=True, text=True, timeout=120, check=False, env=env, cwd=cwd,
    )  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    lines = [text for text in result.stderr.splitlines() if text.startswith("lobbysim: error:")]
    return result.returncode, lines


@pytest.mark.parametrize("url", [BAD_URL, REFUSED_URL], ids=["malformed", "refused"])
def test_one_url_rule_one_line_in_every_command_that_talks_to_redis(
    url: str, tmp_path: Path
) -> None:
    """The same unusable URL, from --redis-url or from REDIS_URL, to every command that talks
    to Redis (Locust's scenarios too, directly and through ``lobbysim load``): one line, the
    same everywhere, exit 2."""
    seen: dict[tuple[str, str], tuple[int, list[str]]] = {
        (command, source): error_lines(command, url, source, tmp_path)
        for command in TALKS_TO_REDIS
        for source in ("flag", "env")
    }
    lines = {tuple(found) for _, found in seen.values()}
    assert len(lines) == 1, seen
    (line,) = next(iter(lines))
    if url == BAD_URL:
        assert (
            line
            == f"lobbysim: error: bad Redis URL '{SHOWN_URL}': the port must be a number from 1 to 65535"
        )
    else:
        assert line.startswith(f"lobbysim: error: cannot use Redis at {REFUSED_URL}: "), line
    assert {status for status, _ in seen.values()} == {2}, seen
    assert not (tmp_path / "unused-out").exists()


def test_every_help_states_the_url_rule_once() -> None:
    """Every command that talks to Redis says in --help, in the same words, that the URL is
    --redis-url, else REDIS_URL. (Locust's --help lists no locustfile's options; its web
    form shows the same sentence, from the same definition.)"""
    rule = "default: the REDIS_URL environment variable"
    for command in ("demo", "race", "watch", "audit", "capacity", "serve"):
        text = " ".join(lobbysim(command, "--help", env=environment()).stdout.split())
        assert text.count(rule) == 1, (command, text)
