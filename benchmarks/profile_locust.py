"""Where one Locust call's CPU goes, by layer (a script, not a test).

    .venv/bin/python benchmarks/profile_locust.py                     # pipelined, -u 500
    .venv/bin/python benchmarks/profile_locust.py --client per-call --users 50

Runs JoinStorm in one Locust process against a private redis-server with cProfile on from
"all users spawned" to the stop (start-up, the stop and the audit are left out), then sums each
function's own time by the package it belongs to (Locust, gevent, redis-py, lobbycore, the
kit, the standard library, C builtins such as socket calls) and divides by the calls made.
cProfile counts CPU time (``time.process_time``), and slows everything down about twofold:
the shares, not the absolute times, are the point.
"""

from __future__ import annotations

import argparse
import pstats
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from lobbysim.testing import RedisServer

ROOT = Path(__file__).resolve().parent.parent

PROFILED_LOCUSTFILE = """
import cProfile
import time
from locust import events
from locustfiles.lobby import JoinStorm  # noqa: F401

profile = cProfile.Profile(time.process_time)  # CPU time: waiting in the hub is not counted
calls = [0]


@events.spawning_complete.add_listener
def _start(**_kwargs):
    profile.enable()


@events.test_stopping.add_listener  # before the users stop, and before the audit
def _stop(environment, **_kwargs):
    profile.disable()
    calls[0] = environment.stats.total.num_requests
    profile.dump_stats({out!r})
    with open({out!r} + ".calls", "w") as f:
        f.write(str(calls[0]))
"""

LAYERS = (
    ("locustfiles", "the kit (client, pipeline, scenarios)"),
    ("lobbycore", "lobbycore (protocol, ids, parsing)"),
    ("site-packages/locust", "Locust (scheduling, request event, stats)"),
    ("site-packages/gevent", "gevent (hub, sockets, switches)"),
    ("site-packages/redis", "redis-py (packing, parsing, pool)"),
    ("site-packages/hiredis", "hiredis"),
)


def layer_of(filename: str, name: str) -> str:
    for marker, label in LAYERS:
        if marker in filename:
            return label
    if filename == "~":
        if "socket" in name or "select" in name or "poll" in name:
            return "C: socket calls (send, recv, poll)"
        if "hiredis" in name:
            return "hiredis"
        return "C: other builtins"
    return "standard library and other"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--client", default="pipelined", choices=("pipelined", "per-call"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, RedisServer() as server:
        out = str(Path(folder) / "run.prof")
        locustfile = Path(folder) / "profiled.py"
        locustfile.write_text(PROFILED_LOCUSTFILE.format(out=out))
        subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless",
             "--only-summary", "-u", str(args.users), "-r", str(args.users),
             "-t", f"{args.seconds}s", "--redis-url", server.url, "--client", args.client],
            cwd=ROOT, capture_output=True, text=True, timeout=args.seconds + 300, check=True,
        )  # fmt: skip
        calls = int(Path(out + ".calls").read_text())
        stats = pstats.Stats(out).stats  # type: ignore[attr-defined]
    by_layer: dict[str, float] = defaultdict(float)
    for (filename, _line, name), (_cc, _nc, own, _cum, _callers) in stats.items():
        by_layer[layer_of(filename, name)] += own
    total = sum(by_layer.values())
    print(
        f"JoinStorm, {args.client} client, {args.users} users, {calls} calls profiled: "
        f"{total * 1e6 / calls:.0f} us of CPU per call (under the profiler)"
    )
    for label, seconds in sorted(by_layer.items(), key=lambda item: -item[1]):
        print(f"  {label:<48} {seconds * 1e6 / calls:>6.1f} us  {seconds / total:>5.0%}")


if __name__ == "__main__":
    main()
