"""Latency at µs resolution from Locust runs (locustfiles/latency.py), each run in its own
process: the result file, ``<csv prefix>_latency_us.csv`` and the end-of-run line carry the
same figures, they agree with Locust's rounded percentiles within Locust's rounding, they
count from the intended send time, and a distributed run's merged counts are Locust's.

Bounded: a few seconds of load against a private redis-server; no rate is asserted.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lobbysim.testing import RedisServer, free_port

LOCUSTFILE = str(Path(__file__).resolve().parents[2] / "locustfiles" / "lobby.py")
LOCUST = [sys.executable, "-m", "locust", "-f", LOCUSTFILE, "--headless", "--only-summary"]
FIELDS = ["count", "p50", "p90", "p95", "p99", "p99.9", "max"]
LOCUST_COLUMNS = {"p50": "50%", "p90": "90%", "p95": "95%", "p99": "99%", "p99.9": "99.9%"}
"""Locust's --csv percentile columns, by the name of the same figure here."""


def rows(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="") as f:
        return {row["Name"]: row for row in csv.DictReader(f)}


def locust_rounding_ms(value_ms: float) -> float:
    """How far Locust's rounded response time can be from the true one (its buckets)."""
    for bound, half in ((100, 0.5), (1_000, 5), (10_000, 50)):
        if value_ms < bound:
            return half
    return 500


def assert_agrees_with_locust(figures: dict[str, Any], locust: dict[str, str]) -> None:
    """The same calls, the same ranks: only Locust's rounding and the histogram's bucket
    (the top of it: at most 0.1 % above, exact below 2,048 µs) tell them apart."""
    assert figures["count"] == int(locust["Request Count"]) > 0
    pairs = [(name, float(locust[column])) for name, column in LOCUST_COLUMNS.items()]
    pairs.append(("max", float(locust["100%"])))
    for name, rounded_ms in pairs:
        micros = figures[name]
        slack = locust_rounding_ms(rounded_ms) * 1000 + micros / 1000 + 1
        assert abs(micros - rounded_ms * 1000) <= slack, (name, micros, rounded_ms)
    exact_max = float(locust["Max Response Time"]) * 1000  # Locust keeps the max unrounded
    assert exact_max - 1 <= figures["max"] <= exact_max * 1.001 + 1, (figures, exact_max)


def assert_same_everywhere(result: dict[str, Any], csv_path: Path, stdout: str) -> None:
    """The result file, the CSV and the end-of-run line carry the same figures."""
    latency = result["latency_us"]
    assert all(list(figures) == FIELDS for figures in latency.values()), latency
    table = rows(csv_path)
    assert list(table) == list(latency)
    for name, row in table.items():
        assert {k: int(v) if v else None for k, v in row.items() if k != "Name"} == latency[name]
    lines = [x for x in stdout.splitlines() if x.startswith("lobbysim latency:")]
    total = latency["Aggregated"]
    assert lines == [
        "lobbysim latency: unit=us from=intended_send "
        + " ".join(f"{f}={'n/a' if total[f] is None else total[f]}" for f in FIELDS)
    ], stdout[-2000:]


def wait_for_line(process: subprocess.Popen[str], text: str, timeout: float) -> bool:
    assert process.stderr is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            return False
        if text in line:
            return True
    return False


def test_open_model_latency_in_us_agrees_with_locust_and_counts_queueing(
    pool_name: str, tmp_path: Path
) -> None:
    # A 0.6 s stall of the server once the users run: the joins scheduled during it are sent
    # late (each user waits for its stalled call), and count from when they were due.
    prefix, result_file = tmp_path / "open", tmp_path / "result.json"
    with RedisServer("--enable-debug-command", "local") as server:
        process = subprocess.Popen(
            [*LOCUST, "-u", "10", "-r", "10", "-t", "4s", "--stop-timeout", "5",
             "--redis-url", server.url, "--pool", pool_name, "--arrival-rate", "50",
             "--csv", str(prefix), "--result-file", str(result_file), "OpenJoins"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert wait_for_line(process, "All users spawned", timeout=60)
            time.sleep(0.5)
            server.client().execute_command("DEBUG", "SLEEP", "0.6")
            out, err = process.communicate(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == 0, out[-2000:] + err[-2000:]
    result = json.loads(result_file.read_text())
    assert result["ok"] is True
    latency = result["latency_us"]
    assert list(latency) == ["join (open)", "Aggregated"]
    assert_same_everywhere(result, Path(f"{prefix}_latency_us.csv"), out)
    locust = rows(Path(f"{prefix}_stats.csv"))
    for name in latency:
        assert_agrees_with_locust(latency[name], locust[name])
    joins = latency["join (open)"]
    assert joins["count"] == result["joins"] == result["placed_server"]
    # Over 12 % of the joins were due during the stall's first 0.5 s: each waited at least
    # 0.1 s from its due time, though most were sent after the stall and answered at once.
    assert joins["p95"] >= 100_000, joins


def test_processes_merge_into_locusts_counts(redis_server: RedisServer, tmp_path: Path) -> None:
    prefix, result_file = tmp_path / "dist", tmp_path / "result.json"
    port = str(free_port())
    done = subprocess.run(
        [*LOCUST, "--processes", "2", "--master-bind-host", "127.0.0.1",
         "--master-bind-port", port, "--master-port", port,
         "-u", "20", "-r", "20", "-t", "3s", "--stop-timeout", "30",
         "--redis-url", redis_server.url, "--csv", str(prefix),
         "--result-file", str(result_file), "JoinStorm", "Churn"],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "2 workers connected" in done.stderr, done.stderr[-2000:]
    result = json.loads(result_file.read_text())
    latency = result["latency_us"]
    assert_same_everywhere(result, Path(f"{prefix}_latency_us.csv"), done.stdout)
    locust = rows(Path(f"{prefix}_stats.csv"))
    assert set(latency) == {"join", "leave", "Aggregated"} and set(locust) == set(latency)
    for name in latency:  # every call of both workers, each counted once
        assert_agrees_with_locust(latency[name], locust[name])
    assert latency["join"]["count"] == result["joins"]
    assert latency["Aggregated"]["count"] == latency["join"]["count"] + latency["leave"]["count"]
