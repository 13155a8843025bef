"""The dashboard's refresh cost, and the demo's throughput and CPU (not a test).

    .venv/bin/python benchmarks/bench_tui.py            # refresh cost
    .venv/bin/python benchmarks/bench_tui.py --demo     # served against offered, CPU
    .venv/bin/python benchmarks/bench_tui.py --frames [--baseline DIR]   # frame cost, CPU
    .venv/bin/python benchmarks/bench_tui.py --terminal [--baseline DIR] # CPU in a terminal

The refresh part runs the real dashboard headless (Textual's test driver) over a simulation
that piles up about 2,000 waiting buyers in about 500 lobbies (a long checkout keeps full
lobbies on the board), and reports how often the screen refreshed and what each refresh
cost.

The demo part starts a private redis-server and runs ``lobbysim demo --headless`` against
it at rising arrival rates, each run its own process: the joins/s it served against the
arrivals/s it was offered, and the process's CPU over the run's steady part (start-up and
imports left out). Then the dashboard itself (Textual's headless driver, the simulation in
the same process) at the default rate: its CPU share. ``--rounds 2`` runs every
measurement twice, interleaved, for a shared machine.

The frames part runs the dashboard (Textual's headless driver, the simulation in the same
process, a private redis-server) at 80x24 and 160x48, at 25, 500 and 2,000 arrivals/s, each
run its own process: the process's CPU share over the run's steady part, the frames drawn,
and the CPU time a frame cost (the app's refresh plus the screen's updates: layout,
rendering and compositing; the headless driver writes nothing, a terminal adds its output). With
``--baseline DIR`` (a checkout of another commit, e.g. ``git worktree add /tmp/wt-base
HEAD~3``) every run is made twice, interleaved, the other one importing the app from DIR.

The terminal part runs ``lobbysim demo`` itself in a pseudo-terminal (Textual's real
driver, which also writes each frame out) at the default rate, at both sizes, with or
without ``--baseline``: its CPU share after ``--settle`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable

from textual.screen import Screen

from lobbysim.cli._redis import open_clients, open_embedded
from lobbysim.testing import RedisServer
from simulator import SimConfig, Simulation
from simulator.dashboard import LobbySimApp
from simulator.dashboard._app import TICK_SECONDS
from simulator.dashboard.widgets import LobbyGrid

RATES = (25.0, 500.0, 2000.0, 4000.0)
DEFAULT_RATE = SimConfig().rate
SETTLE_SECONDS = 2.0
"""Left out of a CPU measure: imports, the first connections, the board filling up."""
TICKS = os.sysconf("SC_CLK_TCK")


async def refresh_cost(measure_seconds: float = 5.0, lobbies_wanted: int = 500) -> None:
    sim = Simulation(
        open_embedded(),
        SimConfig(
            rate=300.0, patience=60.0, checkout=60.0, party_share=0.0, seed=1, lobby_ttl=None
        ),
    )
    app = LobbySimApp(sim)
    async with app.run_test(size=(160, 50)) as pilot:
        deadline = time.monotonic() + 60
        while len(sim.board.cards) < lobbies_wanted and time.monotonic() < deadline:
            await pilot.pause(0.5)  # fill up
        refreshes, spent, started = app.refreshes, app.refresh_seconds, time.perf_counter()
        await pilot.pause(measure_seconds)
        elapsed = time.perf_counter() - started
        n = app.refreshes - refreshes
        lobbies, waiting = len(sim.board.cards), sim.board.waiting_users()
        drawn = app.query_one(LobbyGrid).capacity
    print(
        f"board: {lobbies} lobbies, {waiting} users waiting "
        f"({drawn} cards drawn at 160x50, the rest summarized)"
    )
    print(
        f"refreshes: {n} in {elapsed:.1f}s = {n / elapsed:.1f}/s (the timer asks for {1 / TICK_SECONDS:g}/s, "
        "fewer when nothing changed)"
    )
    print(
        f"cost of one refresh: {(app.refresh_seconds - spent) / max(n, 1) * 1000:.2f} ms on average"
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process, from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def headless_run(url: str, rate: float, seconds: float) -> tuple[dict[str, str], float]:
    """One ``lobbysim demo --headless`` run: its summary, and its CPU share after settling."""
    command = [sys.executable, "-m", "lobbysim.cli", "demo", "--headless"]
    command += ["--redis-url", url, "--rate", f"{rate:g}", "--duration", f"{seconds:g}"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started = time.monotonic()
    first: tuple[float, float] | None = None
    last: tuple[float, float] | None = None
    while process.poll() is None:
        time.sleep(0.1)
        now = time.monotonic()
        try:
            sample = (now, cpu_seconds(process.pid))
        except (OSError, IndexError, ValueError):  # exiting
            break
        if now - started >= SETTLE_SECONDS:
            first = first or sample
            last = sample
    out, err = process.communicate()
    line = out.strip().splitlines()[-1] if out.strip() else ""
    if not line.startswith("strategy="):
        raise SystemExit(f"demo at {rate:g}/s printed no summary: {err.strip()[-300:]}")
    summary = dict(part.split("=", 1) for part in line.split())
    share = 0.0
    if first and last and last[0] > first[0]:
        share = (last[1] - first[1]) / (last[0] - first[0])
    return summary, share


async def _dashboard_cpu(url: str, seconds: float) -> None:
    """Run in a child process: the dashboard over a simulation at the default rate."""
    clients = open_clients(url)
    app = LobbySimApp(Simulation(clients, SimConfig(pool=f"bench-tui-{os.getpid()}")))
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause(SETTLE_SECONDS)
        cpu, wall = time.process_time(), time.monotonic()
        await pilot.pause(seconds)
        share = (time.process_time() - cpu) / (time.monotonic() - wall)
        joins = app.simulation.metrics.joins.total if app.simulation else 0
        await pilot.press("q")
    print(f"{share:.4f} {joins}")


def dashboard_cpu(url: str, seconds: float) -> float:
    result = subprocess.run(
        [sys.executable, __file__, "--dashboard-cpu", url, "--seconds", f"{seconds:g}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 120,
    )
    return float(result.stdout.split()[0])


def demo(rounds: int, seconds: float) -> None:
    server = RedisServer().start()
    try:
        print(f"private redis-server on {server.url}; {os.cpu_count()} cores, {rounds} round(s)")
        for round_ in range(1, rounds + 1):
            for rate in RATES:
                summary, share = headless_run(server.url, rate, seconds)
                served = summary.get("served_per_s", "-")
                print(
                    f"round {round_} headless --rate {rate:>6g}: "
                    f"joins/s {float(summary['joins_per_s']):8.1f}  served arrivals/s "
                    f"{served:>8}  ok={summary['ok']}  CPU {share * 100:5.1f}% of a core"
                )
            share = dashboard_cpu(server.url, seconds)
            print(
                f"round {round_} dashboard --rate {DEFAULT_RATE:g}: CPU {share * 100:5.1f}% of a "
                f"core (Textual's headless driver, 160x50, {seconds:g} s after {SETTLE_SECONDS:g})"
            )
    finally:
        server.stop()


FRAME_SIZES = ((80, 24), (160, 48))
FRAME_RATES = (25.0, 500.0, 2000.0)


async def _frames_child(
    url: str, size: tuple[int, int], rate: float, seconds: float, settle: float
) -> None:
    """Run in a child process (importing the app from PYTHONPATH's tree when one is given):
    the dashboard at ``rate``; prints one JSON line."""
    # CPU time, not wall time: on a shared machine a frame's wall time counts the waits for
    # a core. Both wrapped on the class, so that a baseline tree's app is measured alike.
    spent = {"refresh": [0, 0.0], "update": [0, 0.0]}

    def timed(name: str, method: Callable[..., None]) -> Callable[..., None]:
        def run(self: object) -> None:
            started = time.process_time()
            method(self)
            spent[name][0] += 1
            spent[name][1] += time.process_time() - started

        return run

    Screen._on_timer_update = timed("update", Screen._on_timer_update)  # type: ignore[method-assign]
    LobbySimApp.refresh_view = timed("refresh", LobbySimApp.refresh_view)  # type: ignore[method-assign]
    sim = Simulation(open_clients(url), SimConfig(pool=f"bench-tui-{os.getpid()}", rate=rate))
    app = LobbySimApp(sim)
    async with app.run_test(size=size) as pilot:
        await pilot.pause(settle)
        cpu, wall, joins = time.process_time(), time.monotonic(), sim.metrics.joins.total
        before = {name: list(values) for name, values in spent.items()}
        frames = app.refreshes
        await pilot.pause(seconds)
        elapsed = time.monotonic() - wall
        result = {
            "cpu": (time.process_time() - cpu) / elapsed,
            "joins_per_s": (sim.metrics.joins.total - joins) / elapsed,
            "elapsed": elapsed,
            "app": sys.modules[LobbySimApp.__module__].__file__,
        }
        for name, (n, seconds_) in spent.items():
            result[f"{name}_count"] = n - before[name][0]
            result[f"{name}_ms"] = (seconds_ - before[name][1]) * 1000
        # Frames drawn: a tick that found nothing new to draw is no frame (its check counts
        # in refresh_ms).
        result["refresh_count"] = app.refreshes - frames
        await pilot.press("q")
    print(json.dumps(result))


def frames_run(
    url: str, size: tuple[int, int], rate: float, seconds: float, settle: float, tree: str | None
) -> dict[str, float]:
    env = dict(os.environ)
    if tree:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [tree, env.get("PYTHONPATH")]))
    command = [sys.executable, __file__, "--frames-child", url, "--seconds", f"{seconds:g}"]
    command += ["--size", f"{size[0]}x{size[1]}", "--rate", f"{rate:g}", "--settle", f"{settle:g}"]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=settle + seconds + 120,
        env=env,
        check=False,
    )
    if result.returncode:
        raise SystemExit(f"frames run failed: {result.stderr.strip()[-500:]}")
    parsed: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    if tree and not str(parsed["app"]).startswith(os.path.abspath(tree)):
        raise SystemExit(f"the baseline run imported {parsed['app']}, not {tree}'s app")
    return parsed


def _trees(baseline: str | None) -> list[tuple[str, str | None]]:
    """The checkouts to run, by name: the baseline's (if any) first, then this tree."""
    return ([(f"baseline {baseline}", baseline)] if baseline else []) + [("this tree", None)]


def frames(
    rounds: int, seconds: float, settle: float, rates: list[float], baseline: str | None
) -> None:
    trees = _trees(baseline)
    server = RedisServer().start()
    try:
        print(
            f"private redis-server on {server.url}; {os.cpu_count()} cores; {seconds:g} s per "
            f"run after {settle:g} s; {rounds} round(s), trees interleaved"
        )
        print(
            "frame = CPU ms of the app's refreshes + the screen's updates, per frame drawn; "
            "CPU = the whole process (simulation included), share of one core"
        )
        for round_ in range(1, rounds + 1):
            for width, height in FRAME_SIZES:
                for rate in rates:
                    for name, tree in trees:
                        r = frames_run(server.url, (width, height), rate, seconds, settle, tree)
                        frames_ = max(r["refresh_count"], 1)
                        frame_ms = (r["refresh_ms"] + r["update_ms"]) / frames_
                        print(
                            f"round {round_} {width}x{height} --rate {rate:>5g} {name:<24} "
                            f"joins/s {r['joins_per_s']:7.1f}  CPU {r['cpu'] * 100:5.1f}%  "
                            f"frames/s {r['refresh_count'] / r['elapsed']:4.1f}  "
                            f"screen updates/s {r['update_count'] / r['elapsed']:4.1f}  "
                            f"frame {frame_ms:6.2f} ms (refresh "
                            f"{r['refresh_ms'] / frames_:5.2f} + update {r['update_ms'] / frames_:5.2f})",
                            flush=True,
                        )
    finally:
        server.stop()


def terminal_run(
    url: str, size: tuple[int, int], tree: str | None, settle: float, seconds: float
) -> tuple[float, int]:
    """``lobbysim demo`` in a pseudo-terminal of this size (Textual's real driver, its output
    read and dropped): its CPU share after ``settle`` seconds, and the bytes it wrote."""
    cols, rows = size
    env = dict(os.environ, TERM="xterm-256color", COLUMNS=str(cols), LINES=str(rows))
    if tree:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [tree, env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "lobbysim.cli", "demo", "--redis-url", url]
    command += ["--pool", f"bench-tty-{os.getpid()}-{time.monotonic_ns()}"]
    pid, fd = pty.fork()
    if pid == 0:  # the child: the demo, in the terminal
        # `python -m` puts the working directory first on the path, before PYTHONPATH:
        # the tree's own, or the baseline would run this tree's code.
        os.chdir(tree or os.getcwd())
        os.execve(sys.executable, command, env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    started, first, written = time.monotonic(), (0.0, 0.0), 0
    try:
        while (now := time.monotonic()) - started < settle + seconds:
            if not first[0] and now - started >= settle:
                first = (now, cpu_seconds(pid))
            if select.select([fd], [], [], 0.05)[0]:
                written += len(os.read(fd, 1 << 16)) if first[0] else 0
        last = (time.monotonic(), cpu_seconds(pid))
    finally:
        os.write(fd, b"q")
        deadline = time.monotonic() + 10
        while os.waitpid(pid, os.WNOHANG) == (0, 0):
            if time.monotonic() > deadline:
                os.kill(pid, 9)
            if select.select([fd], [], [], 0.05)[0]:
                with contextlib.suppress(OSError):  # the demo has quit
                    os.read(fd, 1 << 16)
        os.close(fd)
    return (last[1] - first[1]) / (last[0] - first[0]), written


def terminal(rounds: int, seconds: float, settle: float, baseline: str | None) -> None:
    trees = _trees(baseline)
    server = RedisServer().start()
    try:
        print(
            f"lobbysim demo (--rate {DEFAULT_RATE:g}) in a pseudo-terminal, private redis-server "
            f"on {server.url}; CPU over {seconds:g} s after {settle:g} s; {os.cpu_count()} cores"
        )
        for round_ in range(1, rounds + 1):
            for size in FRAME_SIZES:
                for name, tree in trees:
                    share, written = terminal_run(server.url, size, tree, settle, seconds)
                    print(
                        f"round {round_} {size[0]}x{size[1]} {name:<24} CPU {share * 100:5.1f}% "
                        f"of a core, {written / seconds / 1024:6.1f} KiB/s to the terminal",
                        flush=True,
                    )
    finally:
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo", action="store_true", help="served against offered, and CPU")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=8.0, help="each demo run's length")
    parser.add_argument("--frames", action="store_true", help="frame time and CPU by size, rate")
    parser.add_argument(
        "--baseline", metavar="DIR", help="--frames, --terminal: also run DIR's app"
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=SETTLE_SECONDS,
        help="--frames, --terminal: seconds left out first (the log's first 500 lines lay "
        "the screen out again at each frame; 20 s at 25/s measures past them)",
    )
    parser.add_argument(
        "--rates", type=float, nargs="+", default=list(FRAME_RATES), help="--frames: arrivals/s"
    )
    parser.add_argument(
        "--terminal", action="store_true", help="the demo's CPU in a pseudo-terminal, by size"
    )
    parser.add_argument("--dashboard-cpu", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--frames-child", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--size", default="160x48", help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.frames_child:
        width, height = map(int, args.size.split("x"))
        asyncio.run(
            _frames_child(args.frames_child, (width, height), args.rate, args.seconds, args.settle)
        )
    elif args.terminal:
        terminal(args.rounds, args.seconds, args.settle, args.baseline)
    elif args.frames:
        frames(args.rounds, args.seconds, args.settle, args.rates, args.baseline)
    elif args.dashboard_cpu:
        asyncio.run(_dashboard_cpu(args.dashboard_cpu, args.seconds))
    elif args.demo:
        demo(args.rounds, args.seconds)
    else:
        asyncio.run(refresh_cost())
