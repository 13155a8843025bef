"""Throughput against shard count, on a private 3-primary Redis Cluster (not a test).

    .venv/bin/python benchmarks/bench_shards.py --out docs/capacity-shards
    .venv/bin/python benchmarks/bench_shards.py --out /tmp/shards -- --quick

Starts a real Redis Cluster (3 ``redis-server --cluster-enabled yes`` on loopback ports,
joined by ``redis-cli --cluster create``), runs ``lobbysim capacity --shards 1,3`` against
it (any further arguments after ``--`` go to ``lobbysim capacity``), and shuts the cluster
down. The report's command line names the cluster's ephemeral port; this script is how to
make it again.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.redis_server import RedisClusterProcesses  # noqa: E402  (after the path insert)

DEFAULTS = ["--shards", "1,3", "--steps", "5", "--step-seconds", "10", "--start-rate", "2000"]
DEFAULTS += ["--max-rate", "20000", "--max-users", "4"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder for the capacity report")
    parser.add_argument("capacity_args", nargs="*", help="extra lobbysim capacity arguments")
    args = parser.parse_args()
    cluster = RedisClusterProcesses(3).start()
    try:
        url = f"redis://127.0.0.1:{cluster.ports[0]}/0"
        command = [str(Path(sys.executable).parent / "lobbysim"), "capacity"]
        command += ["--redis-url", url, "--out", args.out, *DEFAULTS, *args.capacity_args]
        print("cluster primaries on ports", cluster.ports, flush=True)
        print(" ".join(command), flush=True)
        return subprocess.run(command, check=False).returncode
    finally:
        cluster.close()


if __name__ == "__main__":
    raise SystemExit(main())
