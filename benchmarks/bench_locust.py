"""One Locust process driving JoinStorm against a private redis-server (a script, not a test).

    .venv/bin/python benchmarks/bench_locust.py                 # 10 s per run, 1 round
    .venv/bin/python benchmarks/bench_locust.py --rounds 3 --pin
    .venv/bin/python benchmarks/bench_locust.py --cluster --users 500 --rounds 3
    .venv/bin/python benchmarks/bench_locust.py --batches --users 50,500 --rounds 3

For each user count (50, 500, 2000) it runs the per-call client (``--client per-call``: one
round trip per call, the client before auto-pipelining) and the pipelined client, A and B
interleaved round after round, each on a fresh pool. Per run: joins/s, p50/p99, failures,
the Locust process's CPU per call (its own log line), and Redis's CPU over the loaded part
of the run (``INFO cpu`` when all users are spawned and when ``-t`` ends; 100 % = one core).
Then an open-model run (OpenJoins, 500 users) at half the pipelined client's -u 50 rate,
for the latency at a load the generator can hold.

``--pin`` puts redis-server on CPU 0 and Locust on CPU 1 (``taskset``), so each has a core.

``--cluster`` compares instead, for a pool of 3 shards (``--shards 3``), the pipelined client
on one redis-server, the pipelined client on a private 3-primary Redis Cluster (batched per
primary) and the per-call client on that cluster, interleaved round after round; then the
median generator CPU per join of each, and the cluster's pipelined client against the
single server's (Redis CPU: all the cluster's primaries together). JoinStorm runs as fast
as each can, so a slower target spreads the generator's per-second costs (stats, reports)
over fewer joins; an open-model run (OpenJoins, 500 users, ``--open-rate`` joins/s in all)
compares them at one rate.

``--batches`` looks at why the cluster's client costs more per join at few users: the same
pipelined store Locust uses, driven in one gevent process (no Locust: N greenlets joining in
a loop, a pool of 3 shards) for ``--seconds``, on one redis-server and on a 3-primary
cluster, interleaved; per run its CPU per join (``time.process_time``), the batches it sent
per join and the mean batch.
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from statistics import median

from lobbysim.testing import RedisClusterProcesses, RedisServer

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


def redis_cpu_seconds(*servers: RedisServer) -> float:
    total = 0.0
    for server in servers:
        with server.client() as client:
            info = client.info("cpu")
        total += float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
    return total


@dataclass
class Target:
    """Where a run sends its calls: the URL, and the CPU seconds its Redis has used."""

    url: str
    cpu: Callable[[], float]


def target_of(server: RedisServer) -> Target:
    return Target(server.url, lambda: redis_cpu_seconds(server))


def cluster_target(cluster: RedisClusterProcesses) -> Target:
    return Target(
        f"redis://127.0.0.1:{cluster.ports[0]}/0", lambda: redis_cpu_seconds(*cluster.nodes)
    )


class RedisCpuWindow:
    """Redis's CPU between two lines of Locust's log: all users spawned, then the stop."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.start: tuple[float, float] | None = None
        self.end: tuple[float, float] | None = None
        self.log: list[str] = []

    def follow(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.log.append(line)
            if self.start is None and "All users spawned" in line:
                self.start = (time.monotonic(), self.target.cpu())
            elif self.end is None and "--run-time limit reached" in line:
                self.end = (time.monotonic(), self.target.cpu())

    def share(self) -> float:
        if self.start is None or self.end is None or self.end[0] <= self.start[0]:
            return float("nan")
        return (self.end[1] - self.start[1]) / (self.end[0] - self.start[0])


def run(target: Target, users: int, seconds: int, pin: bool, scenario: str, *extra: str) -> Result:
    with tempfile.TemporaryDirectory() as out:
        prefix = str(Path(out) / "run")
        command = [
            *(["taskset", "-c", "1"] if pin else []),
            sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
            "--only-summary", "-u", str(users), "-r", str(users), "-t", f"{seconds}s",
            "--redis-url", target.url, "--csv", prefix, "--result-file", f"{prefix}.json",
            *extra, scenario,
        ]  # fmt: skip
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        window = RedisCpuWindow(target)
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
        f"  {label:<36} {result.rate:>9,.0f} {result.p50:>6} {result.p99:>6} "
        f"{result.failures:>8} {result.cpu_us:>9} {result.redis_cpu:>9.0%}   ok={result.ok}",
        flush=True,
    )


BATCH_CHILD = """
from gevent import monkey
monkey.patch_all()
import json, sys, time, uuid
import gevent, redis
from redis.cluster import RedisCluster
from locustfiles.pipeline import PipelinedLobbyStore
url, cluster, users, seconds = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3]), float(sys.argv[4])
client = RedisCluster.from_url(url) if cluster else redis.Redis.from_url(url)
store = PipelinedLobbyStore(client, pool="b-" + uuid.uuid4().hex[:8], lobby_ttl=None, shards=3,
                            connections=2)
store.stats()  # every sub-pool opened before the clock starts
joins = 0
def user(n):
    global joins
    i = 0
    while True:
        store.find_or_create_lobby(f"u{n}-{i}", 4)
        joins += 1
        i += 1
greenlets = [gevent.spawn(user, n) for n in range(users)]
gevent.sleep(1.0)  # warm
pipe = store.pipeline
j0, b0, c0, t0 = joins, pipe.batches, pipe.batched, time.process_time()
gevent.sleep(seconds)
j1, b1, c1, t1 = joins, pipe.batches, pipe.batched, time.process_time()
# Then the Python function calls per join (cProfile's count: the same whatever the machine's
# load, unlike the CPU time), over one more second.
import cProfile, pstats
profile = cProfile.Profile()
j2 = joins
profile.enable()
gevent.sleep(1.0)
profile.disable()
j3 = joins
gevent.killall(greenlets)
calls = pstats.Stats(profile).total_calls
n = j1 - j0
print(json.dumps({"joins": n, "us": (t1 - t0) * 1e6 / max(1, n),
                  "batches_per_join": (b1 - b0) / max(1, n), "batch": (c1 - c0) / max(1, b1 - b0),
                  "calls_per_join": calls / max(1, j3 - j2)}))
"""
"""One --batches run: its figures as JSON on stdout."""


def compare_batches(user_counts: list[int], seconds: int, rounds: int) -> None:
    """The pipelined store's CPU per join and batches per join, one server against a
    3-primary cluster, interleaved round after round."""
    root = Path(__file__).resolve().parent.parent
    with RedisServer() as server:
        cluster = RedisClusterProcesses(3).start()
        try:
            urls = {"one server": (server.url, "0"),
                    "cluster": (f"redis://127.0.0.1:{cluster.ports[0]}/0", "1")}  # fmt: skip
            print(
                f"pipelined store, 3 shards, one gevent process, greenlets joining in a loop, "
                f"{seconds}s per run (after 1 s), lobbies of 4"
            )
            print(f"  {'run':<28} {'joins/s':>9} {'us CPU/join':>11} {'batches/join':>12} "
                  f"{'mean batch':>10} {'py calls/join':>13}")  # fmt: skip
            costs: dict[tuple[int, str], list[float]] = {}
            calls: dict[tuple[int, str], list[float]] = {}
            for round_number in range(1, rounds + 1):
                for users in user_counts:
                    order = list(urls) if round_number % 2 else list(urls)[::-1]
                    for where in order:
                        url, is_cluster = urls[where]
                        output = subprocess.run(
                            [sys.executable, "-c", BATCH_CHILD, url, is_cluster, str(users),
                             str(seconds)],
                            capture_output=True, text=True, timeout=seconds + 120, cwd=root,
                            check=True,
                        ).stdout  # fmt: skip
                        r = json.loads(output.strip().splitlines()[-1])
                        costs.setdefault((users, where), []).append(r["us"])
                        calls.setdefault((users, where), []).append(r["calls_per_join"])
                        print(
                            f"  r{round_number} -u {users} {where:<16} "
                            f"{r['joins'] / seconds:>9,.0f} {r['us']:>11.1f} "
                            f"{r['batches_per_join']:>12.3f} {r['batch']:>10.1f} "
                            f"{r['calls_per_join']:>13.1f}",
                            flush=True,
                        )
            print("per join, median of the rounds: CPU (us); Python function calls")
            for users in user_counts:
                one = median(costs[(users, "one server")])
                many = median(costs[(users, "cluster")])
                one_calls = median(calls[(users, "one server")])
                many_calls = median(calls[(users, "cluster")])
                print(f"  -u {users}: CPU one server {one:.1f}  cluster {many:.1f}  "
                      f"cluster/one {many / one:.2f}x;  calls one server {one_calls:.1f}  "
                      f"cluster {many_calls:.1f}  cluster/one {many_calls / one_calls:.2f}x")  # fmt: skip
        finally:
            cluster.close()


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
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="3 shards: pipelined on one server, pipelined and per-call on a 3-primary cluster",
    )
    parser.add_argument(
        "--open-rate",
        type=float,
        default=1500.0,
        help="--cluster: the open-model runs' joins/s, the same for all three (default 1500)",
    )
    parser.add_argument(
        "--batches",
        action="store_true",
        help="the pipelined store without Locust: CPU and batches per join, one server "
        "against a 3-primary cluster",
    )
    args = parser.parse_args()
    user_counts = [int(u) for u in args.users.split(",")]
    if args.batches:
        compare_batches(user_counts, args.seconds, args.rounds)
        return
    if args.cluster:
        compare_cluster(user_counts, args.seconds, args.rounds, args.pin, args.open_rate)
        return
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
            f"  {'run':<36} {'joins/s':>9} {'p50ms':>6} {'p99ms':>6} {'failures':>8} "
            f"{'us CPU/call':>9} {'Redis CPU':>9}"
        )
        rates: dict[tuple[int, str], list[float]] = {}
        for round_number in range(1, args.rounds + 1):
            for users in user_counts:
                order = CLIENTS if round_number % 2 else tuple(reversed(CLIENTS))
                for client in order:
                    result = run(
                        target_of(server), users, args.seconds, args.pin, "JoinStorm",
                        "--client", client,
                    )  # fmt: skip
                    rates.setdefault((users, client), []).append(result.rate)
                    show(f"r{round_number} -u {users} {client}", result)
        pipelined_50 = rates.get((50, "pipelined"))
        if pipelined_50:
            half = sorted(pipelined_50)[len(pipelined_50) // 2] / 2
            # 500 users, each one call at a time: a late reply must not delay the next send.
            result = run(
                target_of(server), 500, args.seconds, args.pin, "OpenJoins",
                "--arrival-rate", f"{half / 500:.3f}",
            )  # fmt: skip
            show(f"open model at {half:,.0f}/s", result)


# (label, where, the client's flags): every run is of a pool of 3 shards.
CLUSTER_RUNS = (
    ("single-node pipelined", "server", ()),
    ("cluster pipelined", "cluster", ()),
    ("cluster per-call", "cluster", ("--client", "per-call")),
)


OPEN_USERS = 500


def compare_cluster(
    user_counts: list[int], seconds: int, rounds: int, pin: bool, open_rate: float
) -> None:
    """The generator's CPU per join: pipelined on one server, pipelined and per-call on a
    3-primary cluster, 3 shards each, interleaved (the order turns round each round); each
    in JoinStorm at each user count, then in the open model at ``open_rate`` joins/s (so
    that the costs the generator pays per second, not per call, weigh the same on all)."""
    with RedisServer() as server:
        cluster = RedisClusterProcesses(3).start()
        try:
            if pin:
                for node in (server, *cluster.nodes):
                    assert node.process is not None
                    subprocess.run(["taskset", "-pc", "0", str(node.process.pid)], check=True,
                                   capture_output=True)  # fmt: skip
            targets = {"server": target_of(server), "cluster": cluster_target(cluster)}
            print(
                f"--shards 3, one Locust process, {seconds}s per run, lobbies of 4: one private "
                f"redis-server, and a private 3-primary Redis Cluster"
                f"{' (Redis on CPU 0, Locust on CPU 1)' if pin else ''}"
            )
            print(
                f"  {'run':<36} {'joins/s':>9} {'p50ms':>6} {'p99ms':>6} {'failures':>8} "
                f"{'us CPU/join':>11} {'Redis CPU':>9}"
            )
            loads: list[tuple[str, int, str, tuple[str, ...]]] = [
                (f"-u {users}", users, "JoinStorm", ()) for users in user_counts
            ]
            loads.append((
                f"open {open_rate:,.0f}/s", OPEN_USERS, "OpenJoins",
                ("--arrival-rate", f"{open_rate / OPEN_USERS:.3f}"),
            ))  # fmt: skip
            costs: dict[tuple[str, str], list[float]] = {}
            for round_number in range(1, rounds + 1):
                for load, users, scenario, load_flags in loads:
                    order = CLUSTER_RUNS if round_number % 2 else CLUSTER_RUNS[::-1]
                    for label, where, flags in order:
                        result = run(
                            targets[where], users, seconds, pin, scenario,
                            "--shards", "3", *load_flags, *flags,
                        )  # fmt: skip
                        if result.cpu_us != "?":
                            costs.setdefault((load, label), []).append(float(result.cpu_us))
                        show(f"r{round_number} {load} {label}", result)
            print("generator CPU per join, median of the rounds (us):")
            for load, *_ in loads:
                medians = {
                    label: median(costs[(load, label)])
                    for label, _, _ in CLUSTER_RUNS
                    if costs.get((load, label))
                }
                row = "  ".join(f"{label} {cost:.0f}" for label, cost in medians.items())
                single = medians.get("single-node pipelined")
                clustered = medians.get("cluster pipelined")
                ratio = (
                    f"  cluster/single {clustered / single:.2f}x" if single and clustered else ""
                )
                print(f"  {load}: {row}{ratio}", flush=True)
        finally:
            cluster.close()


if __name__ == "__main__":
    main()
