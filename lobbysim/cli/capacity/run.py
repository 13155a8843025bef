"""Running the steps of a capacity sweep: real Locust runs of ``OpenJoins``, each on a fresh
pool, measured on both sides while they run; and the ``--verify`` step.

Each step warms up first (the users ramp up over half the warm-up, open their connections,
load the scripts, learn the pool's epoch), then measures for ``--step-seconds``, then runs
on for COOL_DOWN_SECONDS before Locust stops it: only the window in between counts, on both
sides (``locustfiles/capacity_window.py`` keeps it on the Locust side).

Locust runs in its own process group (one process, or a master with ``--processes``
workers), so what is measured is what a user's own Locust runs measure, and an interrupt
stops it here, in order: Locust first, then the pool is deleted, finished or not.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis.cluster import RedisCluster

from lobbycore import PoolLayout, redact_text
from lobbycore._keys import sub_pools
from lobbysim.run.options import to_locust_args
from lobbysim.run.pools import claim, release

from ..load import LOBBY, installed_locustfile
from .measure import Primary, Sample, cores_for_load, per_primary, sample, window
from .model import Step, one_primary_rows, predict, processes_needed
from .plan import MAX_RATE, Config, Plan

WINDOW_PLUGIN = "capacity_window.py"
"""The Locust plugin that keeps each step's measured window (``locustfiles/``)."""
"""Loaded by each step's Locust beside the scenarios: it keeps the measured window."""
RAMP_SHARE = 0.5
"""The users are all started after this share of the warm-up."""
COOL_DOWN_SECONDS = 1.0
"""A step runs this long after its window closes: the calls Locust holds up while it stops
its users fall outside the window."""
START_SLACK_SECONDS = 30.0
"""Locust's ``-t`` counts from before the scenario has started (opened its store, claimed
its pool), the window from after: a loaded machine took up to 11 s there and cut a 10 s
window to 0.9 s. So the window plugin ends each run (``--capacity-run-on``) and ``-t`` is
only a bound, this much later."""
WORKERS_LATE_SECONDS = 2.0
"""Locust workers start their run (and their window) when their master's first spawn
message reaches them, and open their store then: up to this much after the master's ``-t``
has started counting."""
SAMPLE_SECONDS = 0.25
STEP_GRACE_SECONDS = 180.0
"""How long a step may run past its duration (start-up, audit) before it is stopped."""
STOP_SECONDS = 10.0
WORKERS_WAIT_SECONDS = 300.0
"""How long a master-only step waits for its workers before it fails."""
VERIFY_OVER = 1.2
"""The verify step offers this much more than the predicted saturation rate, so that a
Redis faster than predicted can show it (a step achieves about what it is offered, at most)."""

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Placement:
    """How many Locust processes run a step, and the cores they are pinned to (None: any)."""

    processes: int
    cores: frozenset[int] | None = None
    remote: bool = False
    """The processes are workers the user starts (``--expect-workers``), the master only
    here."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def read_result(path: Path) -> dict[str, Any] | None:
    """A JSON file the Locust run wrote (its audit's result file, its measured window), or
    None if it never got that far."""
    try:
        result: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return result


def run_seconds(plan: Plan, processes: int) -> int:
    """Locust's ``-t`` (whole seconds, from the master's start), a bound only (the window
    plugin ends the run): the warm-up, the window, the cool-down, START_SLACK_SECONDS, and
    the workers' late start if there are workers."""
    late = WORKERS_LATE_SECONDS if processes > 1 else 0.0
    run = plan.warmup_seconds + plan.step_seconds + COOL_DOWN_SECONDS + START_SLACK_SECONDS
    return math.ceil(run + late)


def _locust_command(
    plan: Plan, config: Config, rate: float, pool: str, processes: int, locustfile: Path,
    folder: Path, remote: bool = False,
) -> list[str]:  # fmt: skip
    users = max(processes, min(plan.users, int(rate)))
    ramp = plan.warmup_seconds * RAMP_SHARE
    spawn_rate = users / ramp if ramp > 0 else users
    options: dict[str, object] = {
        "pool": pool, "strategy": config.strategy, "max_users": config.max_users,
        "shards": config.shards,
    }  # fmt: skip
    if config.wait_replicas:
        options |= {"wait_replicas": config.wait_replicas, "wait_timeout": plan.wait_timeout}
    files = f"{locustfile},{installed_locustfile(WINDOW_PLUGIN)}"
    command = [
        sys.executable, "-m", "locust", "-f", files, "--headless",
        "--only-summary", "-u", str(users), "-r", f"{spawn_rate:g}",
        "-t", f"{run_seconds(plan, processes)}s", "--stop-timeout", "3",
        "--redis-url", plan.redis_url, "--arrival-rate", f"{rate / users:.6f}",
        *to_locust_args(options),
        "--capacity-warmup", f"{plan.warmup_seconds:g}", "--capacity-window",
        f"{plan.step_seconds:g}", "--capacity-window-file", str(folder / "window.json"),
        "--capacity-run-on", f"{COOL_DOWN_SECONDS + (WORKERS_LATE_SECONDS if processes > 1 else 0):g}",
        "--result-file", str(folder / "result.json"),
    ]  # fmt: skip
    if remote:
        command += [
            "--master", "--expect-workers", str(processes), "--expect-workers-max-wait",
            f"{WORKERS_WAIT_SECONDS:g}", "--master-bind-host", plan.master_host,
            "--master-bind-port", str(plan.master_port),
        ]  # fmt: skip
    elif processes > 1:
        # The master and its workers talk over a port of their own: Locust's default (5557)
        # would collide with any other distributed run on this machine.
        port = str(free_port())
        command += ["--processes", str(processes), "--master-bind-host", "127.0.0.1"]
        command += ["--master-bind-port", port, "--master-port", port]
    return [*command, "OpenJoins"]


def worker_command(plan: Plan) -> list[str]:
    """What starts one worker for a master-only step, on any machine with lobbysim's load
    extra: the scenarios and the window (paths as installed here); the master sends every
    other option, the Redis URL and the step's pool included, with its first spawn message.
    A worker ends with its step."""
    host = plan.master_host
    if host in ("0.0.0.0", "::", "*"):
        host = socket.gethostname()
    files = f"{installed_locustfile(LOBBY)},{installed_locustfile(WINDOW_PLUGIN)}"
    return [
        "locust", "-f", files, "--worker", "--master-host", host,
        "--master-port", str(plan.master_port),
    ]  # fmt: skip


SPREAD_ATTEMPTS = 1000


def _pool_name(client: Any, shards: int) -> str:
    """A fresh pool name; on a cluster, one whose sub-pools sit on as many primaries as they
    can (a random name can put two of three shards on one primary)."""
    pool = f"capacity-{uuid.uuid4().hex[:8]}"
    if shards == 1 or not isinstance(client, RedisCluster):
        return pool
    cluster: Any = client  # redis-py's cluster methods carry no type hints
    wanted = min(shards, len(cluster.get_primaries()))
    for _ in range(SPREAD_ATTEMPTS):
        owners = {cluster.get_node_from_key(keys.stats).name for keys in sub_pools(pool, shards)}
        if len(owners) == wanted:
            break
        pool = f"capacity-{uuid.uuid4().hex[:8]}"
    return pool


@contextlib.contextmanager
def _no_interrupts() -> Iterator[None]:
    """Ctrl-C waits until the block ends: cleaning up half-way would leave keys behind."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop Locust and its workers (their own process group), politely first."""
    if process.poll() is not None:
        return
    for sig in (signal.SIGINT, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=STOP_SECONDS)
            return
        except subprocess.TimeoutExpired:
            continue


def _run_locust(
    command: list[str], client: Any, primaries: list[Primary], cores: frozenset[int] | None,
    log: Path, timeout: float,
) -> list[Sample]:  # fmt: skip
    """Run Locust to its end, sampling both sides; stopped (and re-raised) on any exception."""

    def pin() -> None:
        if cores is not None:
            os.sched_setaffinity(0, cores)

    samples: list[Sample] = []
    with open(log, "wb") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=pin,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + timeout
        while process.poll() is None:
            now = time.monotonic()
            if now > deadline:
                raise RuntimeError(f"the Locust step did not finish in {timeout:g} s")
            samples.append(sample(client, primaries, process.pid, now))
            time.sleep(SAMPLE_SECONDS)
    finally:
        with _no_interrupts():
            _stop(process)
    return samples


def _memory_mb(client: Any) -> float:
    return sum(int(info.get("used_memory", 0)) for _, info in per_primary(client, "memory")) / 1e6


def run_step(
    plan: Plan, client: Any, primaries: list[Primary], config: Config, rate: float,
    phase: str = "sweep", placement: Placement | None = None,
) -> Step:  # fmt: skip
    """One step; its pool is deleted afterwards whatever happened (interrupt included)."""
    placement = placement or Placement(plan.processes)
    layout = PoolLayout.of(config.strategy, config.shards)
    # The name is fresh: Locust is given it as a named pool (never deleted there), so the
    # step deletes it here, after Locust has stopped.
    claimed = claim(client, _pool_name(client, config.shards), layout, reuse=False)
    pool = claimed.pool
    locustfile = installed_locustfile(LOBBY)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            command = _locust_command(
                plan, config, rate, pool, placement.processes, locustfile, folder,
                placement.remote,
            )  # fmt: skip
            wait = WORKERS_WAIT_SECONDS if placement.remote else 0.0
            samples = _run_locust(
                command, client, primaries, placement.cores, folder / "locust.log",
                run_seconds(plan, placement.processes) + STEP_GRACE_SECONDS + wait,
            )  # fmt: skip
            memory = _memory_mb(client)
            measured = read_result(folder / "window.json")
            result = read_result(folder / "result.json")
            log = (folder / "locust.log").read_text(errors="replace")
    finally:
        with _no_interrupts():
            release(client, claimed, keep=False)
    if measured is None:
        last = (log.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"the Locust step did not run: {redact_text(last, plan.redis_url)}")
    return _step(config, rate, phase, placement, primaries, measured, result, samples, memory)


def _us(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _step(
    config: Config, rate: float, phase: str, placement: Placement, primaries: list[Primary],
    measured: dict[str, Any], result: dict[str, Any] | None, samples: list[Sample],
    memory: float,
) -> Step:  # fmt: skip
    """The step's row: its latencies and rate from the window Locust measured, both sides'
    CPU over the sampling intervals inside that window."""
    cpu = window(
        samples, measured["opens"], measured["closes"], [p.pid is not None for p in primaries]
    )
    requests, errors = int(measured["requests"]), int(measured["failures"])
    measured_s = float(measured["seconds"])
    available = len(placement.cores) if placement.cores is not None else cores_for_load()
    slots = max(1, min(placement.processes, available))
    placed_server = None if result is None else result.get("placed_server")
    nan = math.nan
    seconds = cpu.seconds if cpu else nan
    generator_cpu = cpu.generator_cpu if cpu else nan
    generator_demand = cpu.generator_cpu + cpu.generator_wait if cpu else nan
    if placement.remote:
        # Workers elsewhere: their CPU is what each measured of itself over its own window
        # (its wait for a core unknown), one core each; the master here sends no join.
        slots = placement.processes
        reported = measured.get("workers_cpu_s")
        window_s = float(measured["seconds"])
        generator_cpu = generator_demand = (
            nan if reported is None or not window_s > 0 else reported * seconds / window_s
        )
    return Step(
        strategy=config.strategy,
        max_users=config.max_users,
        shards=config.shards,
        phase=phase,
        offered=rate,
        achieved=(requests - errors) / measured_s if measured_s > 0 else 0.0,
        p50_us=_us(measured["p50_us"]),
        p95_us=_us(measured["p95_us"]),
        p99_us=_us(measured["p99_us"]),
        max_us=_us(measured["max_us"]),
        requests=requests,
        errors=errors,
        audit_ok=result is not None and result["ok"] is True,
        exact_count=None
        if result is None or placed_server is None
        else result["placed_reported"] == placed_server,
        window_s=seconds,
        redis_cpu_pct=cpu.redis_cpu / seconds * 100 if cpu else nan,
        busiest_primary_pct=cpu.busiest_cpu * 100 if cpu else nan,
        busiest_primary_demand_pct=cpu.busiest_demand * 100 if cpu else nan,
        primaries_used=cpu.primaries_used if cpu else 0,
        redis_ops=cpu.script_calls if cpu else 0,
        redis_us_per_op=cpu.used_cpu / cpu.script_calls * 1e6 if cpu and cpu.script_calls else nan,
        load_processes=placement.processes,
        generator_cores=slots,
        pinned=placement.cores is not None,
        generator_cpu_pct=generator_cpu / seconds / slots * 100,
        generator_demand_pct=generator_demand / seconds / slots * 100,
        generator_us_per_op=generator_cpu / cpu.script_calls * 1e6
        if cpu and cpu.script_calls
        else nan,
        remote_load=placement.remote,
        machine_cpu_pct=cpu.machine_busy * 100 if cpu else nan,
        others_cpu_pct=cpu.others * 100 if cpu else nan,
        redis_memory_mb=memory,
        wait_replicas=config.wait_replicas,
        p999_us=_us(measured["p999_us"]),
        measured_s=measured_s,
        warmup_s=float(measured["warmup"]),
        run_joins=0 if result is None else int(result.get("joins", 0)),
        violations=0 if result is None else sum(result.get("violations", {}).values()),
    )


def placement_for(plan: Plan, rate: float, earlier: list[Step]) -> Placement:
    """The Locust processes of a sweep step at ``rate``, ``earlier`` its configuration's
    steps so far. ``--expect-workers``: that many, elsewhere. ``--processes auto``: the
    first step runs one and measures Locust's CPU per join; each later step runs as many as
    ``rate`` needs at that cost, each at most GENERATOR_HEADROOM busy (processes_needed),
    capped at the cores this machine lets it use."""
    if plan.expect_workers:
        return Placement(plan.expect_workers, remote=True)
    if not plan.auto_processes or not earlier:
        return Placement(plan.processes)
    return Placement(min(processes_needed(rate, earlier[:1]), cores_for_load()))


def sweep(plan: Plan, client: Any, primaries: list[Primary], progress: Progress) -> Iterator[Step]:
    """Every step of the plan, in order."""
    steps = [(config, rate) for config in plan.configs for rate in plan.rates]
    done: list[Step] = []
    for n, (config, rate) in enumerate(steps):
        placement = placement_for(plan, rate, [s for s in done if s.config == config])
        where = (
            f"waiting for {placement.processes} Locust worker(s); start each with: "
            + shlex.join(worker_command(plan))
            if placement.remote
            else f"{placement.processes} Locust process(es)"
        )
        progress(f"[{n + 1}/{len(steps)}] {config.label}, {rate:,.0f} joins/s, {where}")
        step = run_step(plan, client, primaries, config, rate, placement=placement)
        done.append(step)
        yield step


# -- --verify --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    """How the verify step of one configuration was run (its figures against the prediction
    are model.checks', from the rows)."""

    config: Config
    placement: Placement
    pinning: str
    """How the two sides were placed, in words."""
    step: Step
    cores: int = 0
    """Cores this machine let the run use."""
    local_primaries: int = 0
    """Redis primaries running on this machine (a loopback URL)."""


@contextlib.contextmanager
def _separate_cores(primaries: list[Primary], wanted: int) -> Iterator[tuple[Placement, str]]:
    """Pin each local Redis primary to a core of its own and Locust to the others, for the
    block; their earlier affinities are restored after it."""
    cores = sorted(os.sched_getaffinity(0))
    local = [p for p in primaries if p.pid is not None]
    if not local or len(local) < len(primaries):
        yield (
            Placement(max(1, min(wanted, len(cores)))),
            "not pinned: Redis is not a process of this machine reached by a loopback URL",
        )
        return
    if len(cores) - len(local) < 1:
        yield (
            Placement(max(1, min(wanted, len(cores)))),
            f"not pinned: {len(local)} Redis primaries and Locust cannot have separate cores "
            f"among this machine's {len(cores)}",
        )
        return
    redis_cores, load_cores = cores[-len(local) :], cores[: -len(local)]
    saved: dict[int, set[int]] = {}
    try:
        for primary, core in zip(local, redis_cores, strict=True):
            assert primary.pid is not None
            saved[primary.pid] = os.sched_getaffinity(primary.pid)
            os.sched_setaffinity(primary.pid, {core})
    except OSError as exc:
        for pid, affinity in saved.items():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(pid, affinity)
        yield Placement(max(1, min(wanted, len(cores)))), f"not pinned: {exc.strerror}"
        return
    processes = max(1, min(wanted, len(load_cores)))
    try:
        yield (
            Placement(processes, frozenset(load_cores)),
            f"Redis pinned to core{'s' if len(redis_cores) > 1 else ''} "
            f"{','.join(map(str, redis_cores))}, Locust to core{'s' if len(load_cores) > 1 else ''} "
            f"{','.join(map(str, load_cores))} (as taskset -c would)",
        )
    finally:
        for pid, affinity in saved.items():
            with contextlib.suppress(OSError):  # the server may have stopped meanwhile
                os.sched_setaffinity(pid, affinity)


def verify(
    plan: Plan, client: Any, primaries: list[Primary], steps: list[Step], progress: Progress
) -> Iterator[Verification]:
    """One step per atomic configuration at the rate its sweep predicts saturates Redis."""
    configs = [c for c in plan.configs if c.strategy == "atomic"]
    for done, config in enumerate(configs):
        own = [s for s in steps if s.config == config and s.phase == "sweep"]
        one = [s for s in one_primary_rows(config, steps) if s.phase == "sweep"]
        prediction = predict(own, plan.target_utilization, one)
        if prediction is None:
            progress(f"[verify {done + 1}/{len(configs)}] {config.label}: nothing to verify")
            continue
        rate = min(prediction.saturation * prediction.primaries * VERIFY_OVER, MAX_RATE)
        needed = processes_needed(rate, own)
        with _separate_cores(primaries, needed) as (placement, pinning):
            progress(
                f"[verify {done + 1}/{len(configs)}] {config.label}, {rate:,.0f} joins/s, "
                f"{placement.processes} Locust process(es); {pinning}"
            )
            step = run_step(plan, client, primaries, config, rate, "verify", placement)
        local = sum(1 for p in primaries if p.pid is not None)
        yield Verification(config, placement, pinning, step, len(os.sched_getaffinity(0)), local)
