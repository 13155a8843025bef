"""Locust JoinStorm throughput and latency against a private redis-server (not a test).

    .venv/bin/python benchmarks/bench_locust.py            # 20 s per run
    .venv/bin/python benchmarks/bench_locust.py --seconds 5

Runs the same JoinStorm scenario from one Locust process, from ``--processes 2``, and with
``--strategy naive``, each on a fresh pool, and prints joins/s, p50/p99 and the audit.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.redis_server import RedisServer

LOCUSTFILE = Path(__file__).resolve().parent.parent / "locustfiles" / "lobby.py"


def run(server: RedisServer, label: str, seconds: int, users: int, *extra: str) -> None:
    with tempfile.TemporaryDirectory() as out:
        prefix = str(Path(out) / "run")
        command = [
            sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary",
            "-u", str(users), "-r", str(users), "-t", f"{seconds}s",
            "--redis-url", server.url, "--pool", f"bench-{uuid.uuid4().hex[:8]}",
            "--csv", prefix, *extra, "JoinStorm",
        ]  # fmt: skip
        done = subprocess.run(
            command, capture_output=True, text=True, check=False, timeout=seconds + 120
        )
        audit = next((x for x in done.stdout.splitlines() if x.startswith("lobbysim audit:")), "")
        fields = dict(part.split("=", 1) for part in audit.split()[2:])
        with open(f"{prefix}_stats.csv", newline="") as f:
            row = next(r for r in csv.DictReader(f) if r["Name"] == "join")
    print(
        f"  {label:<34} {float(row['Requests/s']):>9,.0f} {row['50%']:>6} {row['99%']:>6}   "
        f"exit={done.returncode} ok={fields.get('ok')} violations={fields.get('violations')}"
        f" user_in_two_lobbies={fields.get('user_in_two_lobbies')}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=20, help="length of each run (default 20)")
    parser.add_argument("--users", type=int, default=50, help="Locust users (default 50)")
    args = parser.parse_args()
    with RedisServer() as server:
        print(
            f"JoinStorm, {args.users} Locust users, {args.seconds}s per run, lobbies of 4, private redis-server"
        )
        print(f"  {'run':<34} {'joins/s':>9} {'p50ms':>6} {'p99ms':>6}")
        run(server, "atomic, 1 process", args.seconds, args.users)
        run(server, "atomic, --processes 2", args.seconds, args.users, "--processes", "2")
        run(server, "naive, 1 process", args.seconds, args.users, "--strategy", "naive")


if __name__ == "__main__":
    main()
