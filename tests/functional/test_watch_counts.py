"""``lobbysim watch`` counts every join of the pool from its first event: against a real
Locust run of 50 users, its headless summary's joins equal the run's end-of-run audit.

Locust runs in a subprocess (it monkey-patches the process it runs in), on the test's private
redis-server, for a few seconds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from lobbycore import LobbyStore
from lobbycore._keys import sub_pools
from lobbycore.admin import delete_pool
from lobbysim.cli._common import EXIT_INTERRUPTED
from lobbysim.testing import RedisServer

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = str(ROOT / "locustfiles" / "lobby.py")
USERS = "50"


def test_watch_counts_every_join_of_a_locust_run(
    redis_server: RedisServer, pool_name: str, tmp_path: Path
) -> None:
    # Started first, so that it also meets a pool that does not exist yet, then appears.
    watch = subprocess.Popen(
        [
            sys.executable, "-m", "lobbysim.cli", "watch", "--headless", "--duration", "600",
            "--redis-url", redis_server.url, "--pool", pool_name,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    result_file = tmp_path / "result.json"
    try:
        locust = subprocess.run(
            [
                sys.executable, "-m", "locust", "-f", LOCUSTFILE, "--headless", "-u", USERS,
                "-r", USERS, "-t", "5s", "--redis-url", redis_server.url, "--pool", pool_name,
                "JoinStorm",
            ],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
            env={**os.environ, "LOBBYSIM_RESULT_FILE": str(result_file)},
        )  # fmt: skip
        assert locust.returncode == 0, locust.stdout[-3000:] + locust.stderr[-3000:]
        audit = json.loads(result_file.read_text())
        assert audit["ok"] is True and audit["joins"] > 0, audit
    finally:
        watch.send_signal(signal.SIGINT)  # after the run: every event is in the stream
        out, err = watch.communicate(timeout=60)
        delete_pool(redis_server.client(), pool_name)
    assert err == "" and watch.returncode == EXIT_INTERRUPTED, out + err
    values = dict(part.split("=", 1) for part in out.strip().splitlines()[-1].split())
    assert int(values["joins"]) == audit["joins"], (values, audit)
    assert values["totals_from"] == "counters", values
    assert values["violations"] == "0" and values["ended"] == "sigint", values
    # Caught up at the end (the load was over): what it missed is exact, and named if any.
    missed = int(values["events_missed"])
    assert (missed > 0) >= (int(values["joins_unseen"]) > 0), values
    assert int(values["events"]) > 0, values
    # ... and its last reads, after the signal, reached the stream's newest event.
    assert values["lag_s"] == "0.0", values


def test_watch_started_after_the_stream_was_trimmed_counts_exactly_and_says_what_it_never_saw(
    redis_server: RedisServer, pool_name: str
) -> None:
    """The stream keeps about 10,000 events: 12,000 joins made before the watch starts are
    counted exactly (the pool's own counters), and the joins whose events were trimmed
    before the watch could read them are named, not silently left out."""
    store = LobbyStore(redis_server.client(), pool=pool_name, lobby_ttl=None)
    for i in range(12_000):
        store.find_or_create_lobby(f"fan-{i}", 4)
    (keys,) = sub_pools(pool_name)
    stream = redis_server.client().xinfo_stream(keys.events)
    try:
        watch = subprocess.run(
            [
                sys.executable, "-m", "lobbysim.cli", "watch", "--headless", "--duration", "1",
                "--redis-url", redis_server.url, "--pool", pool_name,
            ],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        delete_pool(redis_server.client(), pool_name)
    assert watch.returncode == 0 and watch.stderr == "", watch.stdout + watch.stderr
    values = dict(part.split("=", 1) for part in watch.stdout.strip().splitlines()[-1].split())
    assert (values["joins"], values["totals_from"]) == ("12000", "counters"), values
    # The stream was trimmed to about 10,000 events (MAXLEN ~): the rest were never shown.
    assert 0 < int(values["joins_unseen"]) < 12_000, values
    # ... and the events the watch never read are counted, exactly (Redis 7's entries-added).
    trimmed = stream["entries-added"] - stream["length"]
    assert trimmed > 0 and values["events_missed"] == str(trimmed), values
    assert values["events"] == str(stream["length"]), values
