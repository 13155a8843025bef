"""Locust runs of the scenarios, each in its own process (Locust monkey-patches on import).

Bounded: every run targets the test's private redis-server on 127.0.0.1 for a few seconds.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

from lobbycore import pool_prefix
from tests.redis_server import RedisServer, free_port

LOCUSTFILE = str(Path(__file__).resolve().parents[2] / "locustfiles" / "lobby.py")
LOCUST = [sys.executable, "-m", "locust", "-f", LOCUSTFILE]


def run_locust(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LOCUST, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def audit_line(output: str) -> dict[str, str]:
    lines = [line for line in output.splitlines() if line.startswith("lobbysim audit:")]
    assert len(lines) == 1, output[-3000:]
    return dict(part.split("=", 1) for part in lines[0].split()[2:])


def headless(server: RedisServer, pool: str, *extra: str) -> list[str]:
    return [
        "--headless",
        "-u",
        "30",
        "-r",
        "30",
        "-t",
        "3s",
        "--redis-url",
        server.url,
        "--pool",
        pool,
        *extra,
    ]


def test_join_storm_passes_the_audit_and_writes_reports(
    redis_server: RedisServer, pool_name: str, tmp_path: Path
) -> None:
    result = run_locust(
        *headless(redis_server, pool_name, "--csv", str(tmp_path / "run")), "JoinStorm"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    audit = audit_line(result.stdout)
    assert audit["ok"] == "true" and audit["violations"] == "0"
    assert int(audit["joins"]) > 100
    with open(tmp_path / "run_stats.csv", newline="") as f:
        rows = {row["Name"]: row for row in csv.DictReader(f)}
    assert rows["join"]["Type"] == "lobby" and int(rows["join"]["Failure Count"]) == 0
    assert int(rows["join"]["Request Count"]) == int(audit["joins"])


def test_naive_join_storm_fails_the_audit(redis_server: RedisServer, pool_name: str) -> None:
    result = run_locust(*headless(redis_server, pool_name, "--strategy", "naive"), "JoinStorm")
    assert result.returncode == 1
    audit = audit_line(result.stdout)
    assert audit["ok"] == "false" and int(audit["user_in_two_lobbies"]) > 0


def test_join_and_book_with_seats_never_oversells(
    redis_server: RedisServer, pool_name: str
) -> None:
    result = run_locust(
        *headless(redis_server, pool_name, "--seats", "40", "--max-users", "2"), "JoinAndBook"
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    audit = audit_line(result.stdout)
    assert audit["ok"] == "true" and audit["bookings"] == "20"  # 40 seats / lobbies of 2
    assert "book:sold_out" in result.stderr  # Locust prints its tables on stderr
    assert int(redis_server.client().get(f"lobbysim:{{{pool_name}}}:seats")) == 0


def test_churn_and_party_join_pass_the_audit(redis_server: RedisServer, pool_name: str) -> None:
    result = run_locust(
        *headless(redis_server, pool_name, "--party-share", "0.3"), "Churn", "PartyJoin"
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    audit = audit_line(result.stdout)
    assert audit["ok"] == "true"
    assert " party_join " in result.stderr and " leave " in result.stderr


def test_distributed_master_and_two_workers(
    redis_server: RedisServer, pool_name: str, tmp_path: Path
) -> None:
    port = free_port()
    common = ["--redis-url", redis_server.url, "--pool", pool_name]
    workers = [
        subprocess.Popen(
            [
                *LOCUST,
                "--worker",
                "--master-host",
                "127.0.0.1",
                "--master-port",
                str(port),
                *common,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        master = run_locust(
            "--headless",
            "--master",
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            str(port),
            "--expect-workers",
            "2",
            "--expect-workers-max-wait",
            "30",
            "-u",
            "20",
            "-r",
            "20",
            "-t",
            "4s",
            "--csv",
            str(tmp_path / "dist"),
            *common,
            "JoinStorm",
        )
        for worker in workers:
            worker.wait(timeout=30)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    assert master.returncode == 0, master.stdout[-3000:] + master.stderr[-3000:]
    assert all(w.returncode == 0 for w in workers)
    audit = audit_line(master.stdout)
    assert audit["ok"] == "true"
    with open(tmp_path / "dist_stats.csv", newline="") as f:
        total = next(row for row in csv.DictReader(f) if row["Name"] == "Aggregated")
    # The audit runs before the workers' last stats reports reach the master.
    assert int(total["Request Count"]) >= int(audit["joins"]) > 100
    assert master.stderr.count("reported as ready") >= 2
    client = redis_server.client()
    assert int(client.hget(f"lobbysim:{{{pool_name}}}:stats", "joins")) >= int(audit["joins"])


def test_bad_options_are_one_line_exit_2(pool_name: str) -> None:
    for extra in (
        ["--max-users", "0"],
        ["--shards", "0"],
        ["--shards", "2", "--strategy", "naive"],
        ["--redis-url", f"redis://u:secret@127.0.0.1:{free_port()}/0"],
    ):
        result = run_locust(
            "--headless",
            "-u",
            "1",
            "-t",
            "1s",
            "--pool",
            pool_name,
            *extra,
            "JoinStorm",
            timeout=60,
        )
        assert result.returncode == 2, result.stderr[-2000:]
        errors = [
            line for line in result.stderr.splitlines() if line.startswith("lobbysim: error:")
        ]
        assert len(errors) == 1 and "Traceback" not in result.stderr
        assert "secret" not in result.stderr + result.stdout


def test_reported_placements_equal_the_servers_count(
    redis_server: RedisServer, pool_name: str
) -> None:
    # --stop-timeout lets calls in flight finish, so nothing goes unreported.
    result = run_locust(
        *headless(redis_server, pool_name, "--party-share", "0.3", "--stop-timeout", "5"),
        "JoinStorm",
        "PartyJoin",
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    audit = audit_line(result.stdout)
    assert int(audit["placed_reported"]) == int(audit["placed_server"]) > 100


def test_a_sharded_pool_passes_the_audit_with_exact_counts(
    redis_server: RedisServer, pool_name: str
) -> None:
    result = run_locust(
        *headless(redis_server, pool_name, "--shards", "3", "--party-share", "0.3"),
        "--stop-timeout",
        "5",
        "JoinStorm",
        "PartyJoin",
        "JoinAndBook",
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    audit = audit_line(result.stdout)
    assert audit["ok"] == "true"
    assert int(audit["placed_reported"]) == int(audit["placed_server"]) > 100
    assert int(audit["bookings"]) > 0
    assert "party_spans_shards" not in result.stderr  # parties are formed within a shard
    client = redis_server.client()
    for shard in range(3):
        assert int(client.hget(pool_prefix(pool_name, shard, 3) + "stats", "joins")) > 0


def test_open_model_counts_queueing_delay(pool_name: str, tmp_path: Path) -> None:
    # A 0.6 s stall of the server: every join scheduled during it waits, and the open model
    # counts that wait from the intended send time.
    import threading
    import time

    with RedisServer("--enable-debug-command", "local") as server:

        def stall() -> None:
            time.sleep(1.5)
            server.client().execute_command("DEBUG", "SLEEP", "0.6")

        staller = threading.Thread(target=stall)
        staller.start()
        result = run_locust(
            "--headless", "-u", "10", "-r", "10", "-t", "4s", "--stop-timeout", "5",
            "--redis-url", server.url, "--pool", pool_name, "--arrival-rate", "50",
            "--csv", str(tmp_path / "open"), "OpenJoins",
        )  # fmt: skip
        staller.join()
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    audit = audit_line(result.stdout)
    assert audit["ok"] == "true" and int(audit["placed_reported"]) == int(audit["placed_server"])
    with open(tmp_path / "open_stats.csv", newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["Name"] == "join (open)")
    count = int(row["Request Count"])
    assert 1200 <= count <= 2100  # 10 users x 50/s for about 4 s, on schedule
    assert float(row["90%"]) >= 100  # the stall's backlog, not just the calls in flight
