"""What a step measures on both sides while it runs: Redis (INFO of every primary) and the
load generator (every Locust process, from /proc), sampled a few times a second.

CPU on both sides is counted over the step's measured window only (the one its latencies
come from, see ``locustfiles/capacity_window.py``): the sampling intervals that lie inside it. Locust's
start-up, the warm-up, the stop and the end-of-run audit are left out of the figures.
"""

from __future__ import annotations

import ipaddress
import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from redis.cluster import RedisCluster

SCRIPT_COMMANDS = ("cmdstat_evalsha", "cmdstat_eval", "cmdstat_fcall")
"""How lobbycore's atomic store runs each operation: one script call per join."""

_NS = 1e-9


@dataclass(frozen=True)
class Primary:
    """One Redis primary as INFO describes it: its name and, if it runs on this machine, its
    process id (read from INFO server only for a loopback URL)."""

    name: str
    pid: int | None


@dataclass(frozen=True)
class Sample:
    at: float
    """time.monotonic() of the sample."""
    redis_cpu: tuple[float, ...]
    """Per primary: used_cpu_user + used_cpu_sys, seconds."""
    redis_wait: tuple[float, ...]
    """Per primary on this machine: seconds runnable but waiting for a core (0 if remote)."""
    script_calls: tuple[int, ...]
    """Per primary: script calls (EVALSHA, EVAL, FCALL) so far."""
    commands: int
    """Commands processed, all primaries."""
    generator: dict[int, tuple[float, float]]
    """Per Locust process id: (seconds on a core, seconds runnable but waiting for one)."""
    machine: tuple[int, int]
    """This machine's (busy, total) CPU clock ticks, all cores."""


@dataclass(frozen=True)
class Window:
    """What both sides did while the step's joins were arriving."""

    seconds: float
    redis_cpu: float
    """Seconds of Redis CPU, all primaries."""
    busiest_cpu: float
    """The busiest primary's CPU, in cores (1.0 = one core all the time)."""
    busiest_demand: float
    """The busiest primary's CPU plus its time waiting for a core, in cores (CPU only when
    the server is remote)."""
    primaries_used: int
    """Primaries that ran script calls."""
    used_cpu: float
    """Seconds of Redis CPU on the primaries that ran script calls (an idle primary's
    housekeeping is no part of a join's cost)."""
    script_calls: int
    generator_cpu: float
    """Seconds of CPU, every Locust process."""
    generator_wait: float
    """Seconds every Locust process spent runnable but waiting for a core."""
    machine_busy: float
    """Share of this machine's cores in use (by anything)."""
    others: float
    """Cores used by programs other than Locust and this machine's Redis primaries."""


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def per_primary(client: Any, *sections: str) -> list[tuple[str, dict[str, Any]]]:
    """INFO of every primary, in a stable order: (node name, its INFO)."""
    if isinstance(client, RedisCluster):
        info = client.info(*sections, target_nodes=RedisCluster.PRIMARIES)
        if info and all(isinstance(v, dict) for v in info.values()):
            return sorted(info.items())
        return [("cluster", info)]
    return [("server", client.info(*sections))]


def primaries_of(client: Any, url: str) -> list[Primary]:
    """The primaries behind ``client``; pids only for a loopback URL whose INFO process id is
    a redis-server process here (a server in another container or machine has none)."""
    local = is_loopback(url)
    found = []
    for name, info in per_primary(client, "server"):
        pid = int(info.get("process_id", 0)) if local else 0
        found.append(Primary(name, pid if pid and _is_redis_process(pid) else None))
    return found


def in_sync_replicas(client: Any) -> int:
    """Replicas in sync (INFO's ``state=online``) with the primary that has fewest."""
    counts = []
    for _, info in per_primary(client, "replication"):
        replicas = [v for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)]
        counts.append(sum(1 for r in replicas if r.get("state") == "online"))
    return min(counts, default=0)


def _is_redis_process(pid: int) -> bool:
    try:
        return "redis" in Path(f"/proc/{pid}/comm").read_text()
    except OSError:
        return False


def _schedstat(pid: int) -> tuple[float, float] | None:
    """(seconds on a core, seconds waiting for one) of a process's main thread, or None."""
    try:
        run, wait, _ = Path(f"/proc/{pid}/schedstat").read_text().split()
    except (OSError, ValueError):
        return None
    return int(run) * _NS, int(wait) * _NS


def _process_tree(root: int) -> list[int]:
    """``root`` and all its descendants (read from /proc/*/stat)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may contain spaces: fields follow the last ")".
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(parents.get(pid, []))
    return tree


def _machine_ticks() -> tuple[int, int]:
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


def sample(client: Any, primaries: list[Primary], generator_root: int | None, at: float) -> Sample:
    nodes = per_primary(client, "cpu", "commandstats", "stats")
    waits = []
    for primary in primaries:
        times = None if primary.pid is None else _schedstat(primary.pid)
        waits.append(0.0 if times is None else times[1])
    generator: dict[int, tuple[float, float]] = {}
    if generator_root is not None:
        for pid in _process_tree(generator_root):
            times = _schedstat(pid)
            if times is not None:
                generator[pid] = times
    return Sample(
        at=at,
        redis_cpu=tuple(
            float(info.get("used_cpu_user", 0)) + float(info.get("used_cpu_sys", 0))
            for _, info in nodes
        ),
        redis_wait=tuple(waits) if len(waits) == len(nodes) else (0.0,) * len(nodes),
        script_calls=tuple(
            sum(int(info.get(name, {}).get("calls", 0)) for name in SCRIPT_COMMANDS)
            for _, info in nodes
        ),
        commands=sum(int(info.get("total_commands_processed", 0)) for _, info in nodes),
        generator=generator,
        machine=_machine_ticks(),
    )


def window(
    samples: list[Sample], opens: float, closes: float, local: list[bool] | None = None
) -> Window | None:
    """Both sides over the sampling intervals that lie between ``opens`` and ``closes`` (the
    step's measured window, time.monotonic() values); None if none does. ``local``: which
    primaries run on this machine (their CPU is not counted as other programs')."""
    active = [(a, b) for a, b in itertools.pairwise(samples) if a.at >= opens and b.at <= closes]
    if not active:
        return None
    seconds = sum(b.at - a.at for a, b in active)
    nodes = len(active[0][0].redis_cpu)
    cpu = [sum(b.redis_cpu[i] - a.redis_cpu[i] for a, b in active) for i in range(nodes)]
    wait = [sum(b.redis_wait[i] - a.redis_wait[i] for a, b in active) for i in range(nodes)]
    calls = [sum(b.script_calls[i] - a.script_calls[i] for a, b in active) for i in range(nodes)]
    busiest = max(range(nodes), key=lambda i: cpu[i] + wait[i])
    generator_cpu = generator_wait = 0.0
    for a, b in active:
        for pid, (run, waited) in b.generator.items():
            before_run, before_wait = a.generator.get(pid, (0.0, 0.0))
            generator_cpu += run - before_run
            generator_wait += waited - before_wait
    busy = sum(b.machine[0] - a.machine[0] for a, b in active)
    total = sum(b.machine[1] - a.machine[1] for a, b in active)
    machine_busy = busy / total if total else 0.0
    here = local if local is not None and len(local) == nodes else [False] * nodes
    local_redis = sum(c for c, is_local in zip(cpu, here, strict=True) if is_local)
    cores = os.cpu_count() or 1
    others = max(0.0, machine_busy * cores - (generator_cpu + local_redis) / seconds)
    return Window(
        seconds=seconds,
        redis_cpu=sum(cpu),
        busiest_cpu=max(cpu) / seconds,
        busiest_demand=(cpu[busiest] + wait[busiest]) / seconds,
        primaries_used=sum(1 for c in calls if c > 0),
        used_cpu=sum(c for c, n in zip(cpu, calls, strict=True) if n > 0),
        script_calls=sum(calls),
        generator_cpu=generator_cpu,
        generator_wait=generator_wait,
        machine_busy=machine_busy,
        others=others,
    )


def cores_for_load() -> int:
    """Cores this process (and so the Locust processes it starts) may run on."""
    return len(os.sched_getaffinity(0))


__all__ = [
    "Primary",
    "Sample",
    "Window",
    "cores_for_load",
    "in_sync_replicas",
    "is_loopback",
    "per_primary",
    "primaries_of",
    "sample",
    "window",
]
