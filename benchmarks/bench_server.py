"""Server-side cost of a join: redis-benchmark running the join script by EVALSHA beside
redis-benchmark PING and beside EVALSHA of a script that does nothing (``return 1``, the
ceiling of any Lua-script design on this machine), on a private redis-server (not a test).

    .venv/bin/python benchmarks/bench_server.py

No Python client is involved: this is what one Redis core does with the script.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lobbycore._scripts import script_sources
from tests.redis_server import RedisServer

REQUESTS = 200_000
CLIENTS = 50


def requests_per_second(port: int, *command: str) -> float:
    output = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-n", str(REQUESTS), "-c", str(CLIENTS),
         "-r", "1000000000", "-q", *command],
        capture_output=True, text=True, check=True, timeout=600,
    ).stdout  # fmt: skip
    match = re.search(r"([\d.]+) requests per second", output.replace(",", ""))
    if match is None:
        raise RuntimeError(f"unexpected redis-benchmark output: {output!r}")
    return float(match.group(1))


def main() -> None:
    if shutil.which("redis-benchmark") is None:
        sys.exit("redis-benchmark not found (Debian: apt-get install redis-tools)")
    with RedisServer() as server:
        client = server.client()
        sha = client.script_load(script_sources()["join"])
        trivial = client.script_load("return 1")
        ping = requests_per_second(server.port, "PING")
        # The ceiling of any Lua-script design here: a script that does nothing, one key.
        noop = requests_per_second(
            server.port, "EVALSHA", trivial, "1", "lobbysim:{bench}:stats"
        )  # fmt: skip
        # A new buyer per call (__rand_int__), a fresh id for each lobby it may create, no
        # expiry, and the default 30 s replay window (ARGV: max, id, session, ttl ms, replay ms).
        join = requests_per_second(
            server.port, "EVALSHA", sha, "1", "lobbysim:{bench}:stats",
            "4", "L__rand_int__", "S__rand_int__", "0", "30000", "u__rand_int__",
        )  # fmt: skip
        print(f"redis-benchmark, {REQUESTS:,} requests, {CLIENTS} clients, private redis-server")
        print(f"  PING                          {ping:>12,.0f} requests/s")
        print(f"  EVALSHA 'return 1' (1 key)    {noop:>12,.0f} requests/s")
        print(f"  EVALSHA join (lobbies of 4)   {join:>12,.0f} requests/s")
        print(f"  'return 1' ÷ PING             {noop / ping:>12.2f}   (the ceiling of any script)")
        print(f"  join ÷ PING                   {join / ping:>12.2f}   (target ≥ 0.85)")
        print(f"  join ÷ 'return 1'             {join / noop:>12.2f}")


if __name__ == "__main__":
    main()
