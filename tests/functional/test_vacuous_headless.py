"""``demo --headless``, ``watch --headless`` and ``race`` never pass a run that had nothing to
check. A demo none of whose calls was answered (no buyer arrived, or the server refused every
call) and a watch of a pool in which nothing ever happened say ``ok=false ... checked=nothing``
and exit non-zero; a race stops at the first refused call, naming it, before any verdict."""

from __future__ import annotations

import subprocess

from lobbycore import LobbyStore
from lobbycore.admin import delete_pool
from lobbysim.cli._common import EXIT_INCOMPLETE, EXIT_USAGE, EXIT_VIOLATIONS
from lobbysim.testing import RedisServer
from tests.cli import lobbysim

UNCONFIRMED = ("--wait-replicas", "1", "--wait-timeout", "0.1")
"""On a server with no replica, every write is refused as not confirmed (NotConfirmed)."""


def summary(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    (line,) = result.stdout.strip().splitlines()
    return dict(part.split("=", 1) for part in line.split())


def test_a_demo_no_buyer_reached_checked_nothing(redis_server: RedisServer) -> None:
    """No call, no verdict: exit 1. Buyers that are answered make the same demo ok."""
    demo = ("demo", "--headless", "--duration", "1", "--redis-url", redis_server.url)
    # Seed 2 at 0.1 buyers/s: the first buyer would arrive after 31 s.
    result = lobbysim(*demo, "--rate", "0.1", "--seed", "2")
    busy = lobbysim(*demo, "--rate", "50", "--seed", "2")
    assert result.returncode == EXIT_VIOLATIONS, result.stdout + result.stderr
    values = summary(result)
    assert (values["ok"], values["joins"], values["violations"]) == ("false", "0", "0"), values
    assert (values["answered"], values["checked"]) == ("0", "nothing"), values
    assert result.stderr == ""  # nothing failed: nothing happened
    assert busy.returncode == 0, busy.stdout + busy.stderr
    values = summary(busy)
    assert values["ok"] == "true" and int(values["answered"]) > 0 and "checked" not in values


def test_a_demo_whose_every_call_was_refused_checked_nothing_and_names_why(
    redis_server: RedisServer,
) -> None:
    result = lobbysim(
        "demo", "--headless", "--duration", "1.5", "--seed", "1", *UNCONFIRMED,
        "--redis-url", redis_server.url,
    )  # fmt: skip
    assert result.returncode == EXIT_INCOMPLETE, result.stdout + result.stderr  # Redis failed
    values = summary(result)
    assert (values["ok"], values["answered"], values["checked"]) == ("false", "0", "nothing")
    assert int(values["errors"]) > 0, values
    (warning,) = result.stderr.splitlines()
    assert warning.startswith(
        "lobbysim: warning: checked nothing (no answered calls); Redis failed: NotConfirmed: "
        "not confirmed"
    ), warning


def test_a_watch_of_a_pool_where_nothing_happened_checked_nothing(
    redis_server: RedisServer, pool_name: str
) -> None:
    """The pool holds a key (its inventory) but no event: nothing to check, exit 1. The
    first join makes the same watch ok."""
    store = LobbyStore(redis_server.client(), pool=pool_name)
    store.set_seats(10)
    watch = ("watch", "--headless", "--duration", "1", "--redis-url", redis_server.url)
    try:
        quiet = lobbysim(*watch, "--pool", pool_name)
        store.find_or_create_lobby("ana", 2)
        joined = lobbysim(*watch, "--pool", pool_name)
    finally:
        delete_pool(redis_server.client(), pool_name)
    assert quiet.returncode == EXIT_VIOLATIONS, quiet.stdout + quiet.stderr
    values = summary(quiet)
    assert (values["ok"], values["pool_found"], values["events"]) == ("false", "yes", "0")
    assert values["checked"] == "nothing" and values["violations"] == "0", values
    assert joined.returncode == 0, joined.stdout + joined.stderr
    values = summary(joined)
    assert values["ok"] == "true" and int(values["events"]) > 0 and "checked" not in values


def test_a_race_whose_every_call_is_refused_names_the_refusal_and_never_says_ok(
    redis_server: RedisServer,
) -> None:
    result = lobbysim(
        "race", "--users", "8", "--concurrency", "2", *UNCONFIRMED,
        "--redis-url", redis_server.url,
    )  # fmt: skip
    assert result.returncode == EXIT_USAGE, result.stdout + result.stderr
    assert result.stderr.startswith("lobbysim: error: not confirmed: "), result.stderr
    assert len(result.stderr.splitlines()) == 1 and "ok=true" not in result.stdout
