"""One Locust process driving JoinStorm against a private redis-server (a script, not a test).

    .venv/bin/python benchmarks/bench_locust.py                 # 10 s per run, 1 round
    .venv/bin/python benchmarks/bench_locust.py --rounds 3 --pin

For each user count (50, 500, 2000) it runs the per-call client (``--client per-call``: one
round trip per call, the client before auto-pipelining) and the pipelined client, A and B
interleaved round after round, each on a fresh pool. Per run: joins/s, p50/p99, failures,
the Locust process's CPU per call (its own log line), and Redis's CPU over the loaded part
of the run (``INFO cpu`` when all users are spawned and when ``-t`` ends; 100 % = one core).
Then an open-model run (OpenJoins, 500 users) at half the pipelined client's -u 50 rate,
for the latency at a load the generator can hold.

``--pin`` puts redis-server on CPU 0 and Locust on CPU 1 (``taskset``), so each has a core.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from lobbysim.testing import RedisServer

LOCUSTFILE = Path(__file__).resolve().parent.parent / "locustfiles" / "lobby.py"
CLIENTS = ("per-call", "pipelined")


@dataclass
class Result:
    rate: float
    p50: str
    p99: str
    failures: int
    cpu_us: str
    redis_cpu: float
    ok: str


def redis_cpu_seconds(server: RedisServer) -> float:
    info = server.client().info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


class RedisCpuWindow:
    """Redis's CPU between two lines of Locust's log: all users spawned, then the stop."""

    def __init__(self, server: RedisServer) -> None:
        self.server = server
        self.start: tuple[float, float] | None = None
        self.end: tuple[float, float] | None = None
        self.log: list[str] = []

    def follow(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.log.append(line)
            if self.start is None and "All users spawned" in line:
                self.start = (time.monotonic(), redis_cpu_seconds(self.server))
            elif self.end is None and "--run-time limit reached" in line:
                self.end = (time.monotonic(), redis_cpu_seconds(self.server))

    def share(self) -> float:
        if self.start is None or self.end is None or self.end[0] <= self.start[0]:
            return float("nan")
        return (self.end[1] - self.start[1]) / (self.end[0] - self.start[0])


def run(
    server: RedisServer, users: int, seconds: int, pin: bool, scenario: str, *extra: str
) -> Result:
    with tempfile.TemporaryDirectory() as out:
        prefix = str(Path(out) / "run")
        command = [
            *(["taskset", "-c", "1"] if pin else []),
            sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
            "--only-summary", "-u", str(users), "-r", str(users), "-t", f"{seconds}s",
            "--redis-url", server.url, "--csv", prefix, "--result-file", f"{prefix}.json",
            *extra, scenario,
        ]  # fmt: skip
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        window = RedisCpuWindow(server)
        follower = threading.Thread(target=window.follow, args=(process.stderr,))
        follower.start()
        assert process.stdout is not None
        process.stdout.read()  # drained so the run never blocks on a full pipe
        process.wait(timeout=seconds + 300)
        follower.join()
        try:
            verdict = str(json.loads(Path(f"{prefix}.json").read_text())["ok"]).lower()
        except FileNotFoundError:  # the run ended before its audit
            verdict = "?"
        cost = re.search(r"generator: \d+ calls, (\d+) us of CPU per call", "".join(window.log))
        with open(f"{prefix}_stats.csv", newline="") as f:
            row = next(r for r in csv.DictReader(f) if r["Name"] == "Aggregated")
    return Result(
        rate=float(row["Requests/s"]),
        p50=row["50%"],
        p99=row["99%"],
        failures=int(row["Failure Count"]),
        cpu_us=cost.group(1) if cost else "?",
        redis_cpu=window.share(),
        ok=verdict,
    )


def show(label: str, result: Result) -> None:
    print(
        f"  {label:<28} {result.rate:>9,.0f} {result.p50:>6} {result.p99:>6} "
        f"{result.failures:>8} {result.cpu_us:>9} {result.redis_cpu:>9.0%}   ok={result.ok}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10, help="length of each run (default 10)")
    parser.add_argument("--rounds", type=int, default=1, help="A/B rounds (default 1)")
    parser.add_argument(
        "--users", default="50,500,2000", help="user counts, comma-separated (default 50,500,2000)"
    )
    parser.add_argument(
        "--pin", action="store_true", help="redis-server on CPU 0, Locust on CPU 1 (taskset)"
    )
    args = parser.parse_args()
    user_counts = [int(u) for u in args.users.split(",")]
    with RedisServer() as server:
        if args.pin:
            assert server.process is not None
            subprocess.run(["taskset", "-pc", "0", str(server.process.pid)], check=True,
                           capture_output=True)  # fmt: skip
        print(
            f"JoinStorm, one Locust process, {args.seconds}s per run, lobbies of 4, private "
            f"redis-server{', pinned: Redis CPU 0, Locust CPU 1' if args.pin else ''}"
        )
        print(
            f"  {'run':<28} {'joins/s':>9} {'p50ms':>6} {'p99ms':>6} {'failures':>8} "
            f"{'us CPU/call':>9} {'Redis CPU':>9}"
        )
        rates: dict[tuple[int, str], list[float]] = {}
        for round_number in range(1, args.rounds + 1):
            for users in user_counts:
                order = CLIENTS if round_number % 2 else tuple(reversed(CLIENTS))
                for client in order:
                    result = run(
                        server, users, args.seconds, args.pin, "JoinStorm", "--client", client
                    )
                    rates.setdefault((users, client), []).append(result.rate)
                    show(f"r{round_number} -u {users} {client}", result)
        pipelined_50 = rates.get((50, "pipelined"))
        if pipelined_50:
            half = sorted(pipelined_50)[len(pipelined_50) // 2] / 2
            # 500 users, each one call at a time: a late reply must not delay the next send.
            result = run(
                server, 500, args.seconds, args.pin, "OpenJoins",
                "--arrival-rate", f"{half / 500:.3f}",
            )  # fmt: skip
            show(f"open model at {half:,.0f}/s", result)


if __name__ == "__main__":
    main()
