"""Joins through `lobbysim serve` beside joins straight to Redis, and the history checker's
cost (not a test).

    .venv/bin/python benchmarks/bench_http.py               # 20 s per run
    .venv/bin/python benchmarks/bench_http.py --seconds 5

On one private redis-server, from one Locust process each:

* the HTTP join storm (locustfiles/http.py --joins-only) through `lobbysim serve` with
  1 and 2 uvicorn workers: joins/s, p50/p99, and the history check's verdict;
* the direct-Redis JoinStorm (locustfiles/lobby.py) with the same number of users;
* the history checker (lobbysim.checks.answers) re-run on the 1-worker run's full history, and
  on the mixed buyer scenario's (joins, reads, bookings, leaves): calls checked per second.

Everything shares the machine: Locust, the server's workers and redis-server compete for
the same cores, so the figures say how the layers compare here, not what a deployment does.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lobbysim.checks.answers import check_answers
from lobbysim.checks.calls import Call
from lobbysim.testing import RedisServer, free_port

ROOT = Path(__file__).resolve().parent.parent
HTTP_LOCUSTFILE = ROOT / "locustfiles" / "http.py"
REDIS_LOCUSTFILE = ROOT / "locustfiles" / "lobby.py"


@contextmanager
def serve(server: RedisServer, workers: int) -> Iterator[str]:
    port = free_port()
    command = [
        sys.executable, "-m", "lobbysim.cli", "serve", "--port", str(port),
        "--workers", str(workers), "--redis-url", server.url,
        "--pool", f"bench-{uuid.uuid4().hex[:8]}",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/health", timeout=2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"lobbysim serve did not start: {process.stderr}") from None
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def locust(
    locustfile: Path, users: int, seconds: int, out: Path, *extra: str
) -> tuple[dict[str, str], dict[str, object], int]:
    prefix = str(out / f"run-{uuid.uuid4().hex[:6]}")
    command = [
        sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "--only-summary",
        "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--csv", prefix,
        "--result-file", f"{prefix}.json", *extra,
    ]  # fmt: skip
    done = subprocess.run(
        command, capture_output=True, text=True, check=False, timeout=seconds + 180
    )
    with open(f"{prefix}_stats.csv", newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["Name"] == "join")
    return row, json.loads(Path(f"{prefix}.json").read_text()), done.returncode


def line(label: str, row: dict[str, str], verdict: str) -> None:
    print(
        f"  {label:<38} {float(row['Requests/s']):>9,.0f} {row['50%']:>6} {row['99%']:>6}   {verdict}"
    )


def checker_cost(history: Path, label: str) -> None:
    calls = [Call.from_dict(json.loads(text)) for text in history.read_text().splitlines()]
    started = time.perf_counter()
    report = check_answers(calls, lobby_ttl=600.0)
    took = time.perf_counter() - started
    print(
        f"  {label:<38} {len(calls):>9,} calls in {took:.3f}s = {len(calls) / took:,.0f} calls/s"
        f" (ok={report.ok})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=20, help="length of each run (default 20)")
    parser.add_argument("--users", type=int, default=100, help="Locust users (default 100)")
    args = parser.parse_args()
    with RedisServer() as server, tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        print(
            f"Join storm, {args.users} Locust users (one process), {args.seconds}s per run, "
            "lobbies of 4, private redis-server; shared machine: noisy figures"
        )
        print(f"  {'run':<38} {'joins/s':>9} {'p50ms':>6} {'p99ms':>6}")
        histories = {}
        for workers in (1, 2):
            histories[workers] = out / f"history-{workers}.jsonl"
            with serve(server, workers) as base:
                row, result, code = locust(
                    HTTP_LOCUSTFILE, args.users, args.seconds, out, "--host", base,
                    "--joins-only", "--history-file", str(histories[workers]),
                )  # fmt: skip
            line(
                f"HTTP, lobbysim serve --workers {workers}",
                row,
                f"exit={code} ok={result['ok']} calls={result['calls']}",
            )
        row, result, code = locust(
            REDIS_LOCUSTFILE, args.users, args.seconds, out,
            "--redis-url", server.url, "--pool", f"bench-{uuid.uuid4().hex[:8]}", "JoinStorm",
        )  # fmt: skip
        line("direct Redis (lobby.py JoinStorm)", row, f"exit={code} ok={result['ok']}")

        mixed = out / "history-mixed.jsonl"
        with serve(server, 1) as base:
            locust(
                HTTP_LOCUSTFILE, args.users, args.seconds, out, "--host", base,
                "--history-file", str(mixed),
            )  # fmt: skip
        print("History checker (lobbysim.checks.answers), in this process")
        checker_cost(histories[1], "join storm history")
        checker_cost(mixed, "buyer scenario history (mixed calls)")


if __name__ == "__main__":
    main()
