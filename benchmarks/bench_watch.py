"""``lobbysim watch`` following one Locust process's JoinStorm (a script, not a test).

    .venv/bin/python benchmarks/bench_watch.py                  # 60 s of load, 1 round
    .venv/bin/python benchmarks/bench_watch.py --seconds 20 --rounds 2 --profile prof.out
    .venv/bin/python benchmarks/bench_watch.py --rate 10000 --seconds 20   # no Locust
    .venv/bin/python benchmarks/bench_watch.py --capacity --rounds 3

A private redis-server; ``lobbysim watch --headless`` started first (the pool does not exist
yet), then ``locust -f locustfiles/lobby.py --headless -u 100 -r 100 -t <seconds>s ...
JoinStorm`` on a pool of its own (``--pool``, kept). When Locust has exited (its audit done),
the watch is sent SIGINT, as a person would press ctrl-c: it reads the rest and prints its
summary. Per run: the audit's joins against the watch's, the events the watch read and
missed, its lag (largest during the run, and at SIGINT), and its CPU: over the loaded part
of the run (from Locust's "All users spawned" to its "--run-time limit reached", /proc)
and in all. Redis's CPU over the same window (``INFO cpu``; 100 % = one core).

``--rate N`` replaces Locust with a pipelined writer of N joins/s (the store's own
commands, a tenth of a second's worth per trip), for rates one Locust process does not
reach on a small machine; it says how far behind its clock it ended. ``--capacity`` measures
the watch's reads alone, in-process: a fresh watch engine reading a full stream (about
10,000 events) with its large reads and with the store's script (32 kB replies), A/B:
events/s, its CPU per event, and Redis's (``INFO commandstats``) per event.

``--profile PATH`` runs the watch under cProfile (``python -m cProfile -o PATH``): slower,
for finding where its CPU goes, not for its figures.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _shared import RedisServer, StoreCommands, send

LOCUSTFILE = Path(__file__).resolve().parent.parent / "locustfiles" / "lobby.py"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process, from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def redis_cpu(server: RedisServer) -> float:
    with server.client() as client:
        info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


class Window:
    """Locust's loaded part (all users spawned, then the run-time limit): the watch's and
    Redis's CPU seconds at each end."""

    def __init__(self, server: RedisServer, watch_pid: int) -> None:
        self.server = server
        self.watch_pid = watch_pid
        self.start: tuple[float, float, float] | None = None
        self.end: tuple[float, float, float] | None = None
        self.log: list[str] = []

    def sample(self) -> tuple[float, float, float]:
        return (time.monotonic(), cpu_seconds(self.watch_pid), redis_cpu(self.server))

    def follow(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.log.append(line)
            if self.start is None and "All users spawned" in line:
                self.start = self.sample()
            elif self.end is None and "--run-time limit reached" in line:
                self.end = self.sample()

    def shares(self) -> tuple[float, float, float]:
        """Seconds, the watch's CPU share, Redis's CPU share."""
        if self.start is None or self.end is None or self.end[0] <= self.start[0]:
            return (float("nan"),) * 3
        wall = self.end[0] - self.start[0]
        return (
            wall,
            (self.end[1] - self.start[1]) / wall,
            (self.end[2] - self.start[2]) / wall,
        )


def write(url: str, pool: str, rate: float, seconds: float) -> None:
    """Run in a child process: joins of new users at ``rate`` a second for ``seconds``, a
    tenth of a second's worth per pipelined trip (the store's own commands); prints how
    many were answered, and how far behind its clock it ended."""
    import redis

    client = redis.Redis.from_url(url)
    commands = StoreCommands(client, pool, lobby_ttl=600.0)
    tick, sent, started = 0.1, 0, time.monotonic()
    while (now := time.monotonic()) < started + seconds:
        due = int((now - started) * rate) - sent
        if due > 0:
            batch = [
                commands.capture(lambda store, i=i: store.find_or_create_lobby(f"w-{i}", 4))
                for i in range(sent, sent + due)
            ]
            send(client, batch)
            sent += due
        time.sleep(max(0.0, started + (sent / rate) + tick - time.monotonic()))
    print(sent, f"{time.monotonic() - started - seconds:.2f}")


def start_watch(server: RedisServer, pool: str, profile: str | None) -> subprocess.Popen[str]:
    python = [sys.executable, *(["-m", "cProfile", "-o", profile] if profile else [])]
    return subprocess.Popen(
        [
            *python, "-m", "lobbysim.cli", "watch", "--headless", "--duration", "3600",
            "--redis-url", server.url, "--pool", pool,
        ],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def stop_watch(watch: subprocess.Popen[str]) -> tuple[dict[str, str], float, float]:
    """SIGINT: the watch reads the rest and prints its summary. The summary, the watch's CPU
    seconds before the signal, and the seconds from the signal to the summary."""
    cpu = cpu_seconds(watch.pid)
    stopped = time.monotonic()
    watch.send_signal(signal.SIGINT)
    out, err = watch.communicate(timeout=600)
    after = time.monotonic() - stopped
    lines = out.strip().splitlines()
    if not lines or "=" not in lines[-1]:
        raise SystemExit(f"watch printed no summary: {err[-2000:]}")
    return dict(part.split("=", 1) for part in lines[-1].split() if "=" in part), cpu, after


def locust_run(
    server: RedisServer, pool: str, users: int, seconds: int, profile: str | None
) -> None:
    watch = start_watch(server, pool, profile)
    with tempfile.TemporaryDirectory() as out:
        result = Path(out) / "result.json"
        locust = subprocess.Popen(
            [
                sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
                "--only-summary", "-u", str(users), "-r", str(users), "-t", f"{seconds}s",
                "--redis-url", server.url, "--pool", pool, "--result-file", str(result),
                "JoinStorm",
            ],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        window = Window(server, watch.pid)
        reader = threading.Thread(target=window.follow, args=(locust.stderr,))
        reader.start()
        assert locust.stdout is not None
        locust.stdout.read()
        locust.wait(timeout=seconds + 300)
        reader.join()
        summary, cpu, after = stop_watch(watch)
        try:
            audit = json.loads(result.read_text())
        except FileNotFoundError:
            raise SystemExit("Locust wrote no result: " + "".join(window.log)[-2000:]) from None
    print(
        f"  Locust: joins {audit['joins']:,} (audit ok={str(audit['ok']).lower()}), "
        f"{audit['joins'] / seconds:,.0f} joins/s over -t {seconds}s"
    )
    show(summary, audit["joins"], window, cpu, after)


def writer_run(
    server: RedisServer, pool: str, rate: float, seconds: int, profile: str | None
) -> None:
    watch = start_watch(server, pool, profile)
    window = Window(server, watch.pid)
    window.start = window.sample()
    written = subprocess.run(
        [sys.executable, __file__, "--write", server.url, pool, f"{rate:g}", str(seconds)],
        capture_output=True, text=True, check=True, timeout=seconds + 300,
    ).stdout.split()  # fmt: skip
    window.end = window.sample()
    summary, cpu, after = stop_watch(watch)
    print(
        f"  writer: joins {int(written[0]):,} at {rate:,.0f}/s for {seconds} s (ended "
        f"{written[1]} s behind its clock)"
    )
    show(summary, int(written[0]), window, cpu, after)


def show(summary: dict[str, str], joins: int, window: Window, cpu: float, after: float) -> None:
    wall, watch_share, redis_share = window.shares()
    exact = "events_missed" in summary
    missed = summary["events_missed" if exact else "events_missed_at_least"]
    print(
        f"  watch:  joins {int(summary['joins']):,} ({summary['totals_from']}), "
        f"match={'yes' if int(summary['joins']) == joins else 'NO'}, "
        f"events read {int(summary['events']):,} ({int(summary['events']) / wall:,.0f} per "
        f"second of load), events_missed {missed}"
        f"{'' if exact else ' (at least)'}, joins_unseen {int(summary['joins_unseen']):,}"
    )
    print(
        f"  lag:    largest {summary.get('lag_max_s', '?')} s behind the stream's newest event "
        f"during the run, {summary.get('lag_s', '?')} s at its end; {after:.1f} s from SIGINT "
        "to its summary"
    )
    print(
        f"  CPU:    watch {watch_share:.0%} of a core, Redis {redis_share:.0%}, over the "
        f"{wall:.1f} s loaded window; watch {cpu:.1f} CPU-s from its start to SIGINT "
        f"(ok={summary['ok']}, errors={summary['errors']})",
        flush=True,
    )


CAPACITY_JOINS = 6_600
"""Joins into lobbies of 4 (about 10,000 events: what the stream keeps) for --capacity."""


async def read_all(url: str, pool: str, reply_bytes: int) -> tuple[int, float, float]:
    """A fresh watch engine reading the whole stream of ``pool``, its reads sized to
    ``reply_bytes``: events read, the process's CPU seconds and the wall seconds it took."""
    from lobbysim.cli._redis import open_clients
    from simulator import PoolFollower

    watch = PoolFollower(open_clients(url), pool)
    watch.reply_bytes = reply_bytes
    await watch.store.stats()  # the pool opened, as the watch's first look does
    cpu, wall = time.process_time(), time.perf_counter()
    while await watch.poll():
        pass
    return watch.events, time.process_time() - cpu, time.perf_counter() - wall


def capacity(server: RedisServer, rounds: int) -> None:
    """The watch's reads alone (no audit, no screen): how fast it reads a full stream, with
    the large reads and with the store's script (replies of 32 kB), A/B, in-process."""
    import asyncio

    from lobbycore.admin import FOLLOW_REPLY_BYTES
    from lobbycore.defaults import READ_REPLY_BYTES

    client = server.client()
    pool = "bench-watch-capacity"
    commands = StoreCommands(client, pool, lobby_ttl=600.0)
    send(client, [commands.capture(lambda store, i=i: store.find_or_create_lobby(f"c-{i}", 4))
                  for i in range(CAPACITY_JOINS)])  # fmt: skip
    print(f"reading a stream of {client.xlen(f'lobbysim:{{{pool}}}:events'):,} events:")
    for round_number in range(1, rounds + 1):
        for label, bound in (("large reads", FOLLOW_REPLY_BYTES), ("script", READ_REPLY_BYTES)):
            before = client.info("commandstats")
            events, cpu, wall = asyncio.run(read_all(server.url, pool, bound))
            after = client.info("commandstats")
            used = sum(
                after[k]["usec"] - before.get(k, {"usec": 0})["usec"]
                for k in after
                if k in ("cmdstat_xrange", "cmdstat_fcall", "cmdstat_evalsha", "cmdstat_exec",
                         "cmdstat_hmget", "cmdstat_multi")
            )  # fmt: skip
            print(
                f"  r{round_number} {label:<12} {events:,} events: {events / wall:9,.0f} events/s, "
                f"watch {cpu / events * 1e6:5.1f} us CPU/event, Redis "
                f"{used / events:5.2f} us/event (commandstats)",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=60, help="Locust's -t (default 60)")
    parser.add_argument("--users", type=int, default=100, help="Locust's -u and -r (default 100)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--profile", metavar="PATH", help="run the watch under cProfile")
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="instead of Locust, a pipelined writer at this many joins/s (beyond one Locust "
        "process on this machine)",
    )
    parser.add_argument(
        "--capacity",
        action="store_true",
        help="instead: the watch's reads of a full stream, large reads against the script's",
    )
    parser.add_argument("--write", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write:
        url, pool, rate, seconds = args.write
        write(url, pool, float(rate), float(seconds))
        return
    with RedisServer() as server:
        if args.capacity:
            capacity(server, args.rounds)
            return
        print(
            f"JoinStorm -u {args.users} -r {args.users} -t {args.seconds}s, one Locust process, "
            f"followed by one `lobbysim watch --headless`; private redis-server {server.url}, "
            f"{os.cpu_count()} cores (shared: timing is noisy)"
        )
        for round_number in range(1, args.rounds + 1):
            print(f"round {round_number}:")
            pool = f"bench-watch-{round_number}"
            if args.rate:
                writer_run(server, pool, args.rate, args.seconds, args.profile)
            else:
                locust_run(server, pool, args.users, args.seconds, args.profile)


if __name__ == "__main__":
    main()
