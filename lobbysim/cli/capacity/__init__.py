"""``lobbysim capacity``: sweep offered load, measure both sides, say how many primaries a
peak needs, from a primary's own cost per join.

``plan`` (what to run, checked first), ``measure`` (both sides' CPU while a step runs),
``run`` (the Locust steps and --verify), ``model`` (bottlenecks, prediction, the plan),
``report`` (the files).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import TYPE_CHECKING

from lobbysim.run.options import add_to_argparse
from lobbysim.run.redis import open_clients, required_redis_url, url_help

from .._common import (
    EXIT_INTERRUPTED,
    EXIT_NO_POOL,
    EXIT_VIOLATIONS,
    UsageError,
    add_redis_url,
    float_in,
    int_in,
    positive_float,
    require_extra,
    summary_line,
)
from .findings import plural
from .measure import in_sync_replicas, primaries_of
from .model import GENERATOR_HEADROOM, Step
from .plan import AUTO, MAX_RATE, MAX_STEPS, plan_of
from .report import CsvLog, all_findings, command_line, write_plot, write_report
from .run import Verification, free_port, sweep, verify

if TYPE_CHECKING:
    from .._common import Commands
    from .plan import Plan

NAME = "capacity"
EXIT_MEASURED_NOTHING = EXIT_NO_POOL
"""A step answered no join in its window: as ``watch`` and ``audit`` exit when there was
nothing to look at (4), after the report is written."""
MAX_STEP_SECONDS = 3600.0
MAX_LOCUST_USERS = 10_000
MAX_PROCESSES = 64


def add_parser(commands: Commands) -> None:
    capacity = commands.add_parser(
        NAME,
        help="sweep load on a Redis, find the saturation knee, recommend a number of primaries",
        description=(
            "Runs the open-model Locust scenario OpenJoins at increasing offered rates (each "
            "step a real Locust run on a fresh pool), measures Redis's CPU and the load "
            "generator's at every step, classifies each step as server-bound, generator-bound "
            "or neither, and predicts what one primary sustains from Redis's own CPU cost per "
            "join. Writes DIR/capacity.csv (a row per finished step), DIR/report.md (the plan: "
            "primaries for --peak first) and DIR/capacity.png. Ctrl-C writes the report for the "
            "finished steps and deletes every step's pool."
        ),
    )
    add_redis_url(capacity, url_help("the Redis to measure"))
    capacity.add_argument(
        "--out", required=True, help="folder for capacity.csv, report.md, capacity.png"
    )
    # Each run option takes a list here: the sweep compares every combination (the naive
    # store, which has no shards and cannot wait, runs unsharded and without a wait only);
    # the report adds throughput against shard count; point --redis-url at a cluster to
    # spread the sub-pools over its primaries. --wait-replicas 0,1 prices the wait.
    run_options = ["max_users", "strategy", "shards", "wait_replicas"]
    add_to_argparse(capacity, run_options, lists=run_options)
    add_to_argparse(capacity, ["wait_timeout"])
    capacity.add_argument(
        "--steps",
        type=int_in(1, MAX_STEPS),
        default=5,
        help=f"load steps per configuration, 1..{MAX_STEPS} (default 5)",
    )
    capacity.add_argument(
        "--step-seconds",
        type=float_in(0, MAX_STEP_SECONDS),
        default=10.0,
        help=f"seconds each step is measured for, after its warm-up, at most "
        f"{MAX_STEP_SECONDS:g} (default 10)",
    )
    capacity.add_argument(
        "--warmup-seconds",
        type=float_in(0, MAX_STEP_SECONDS, low_included=True),
        default=2.0,
        help="seconds each step runs before it is measured: the users ramp up over the first "
        "half, open their connections, load the scripts (default 2; 0: measure from the "
        "start)",
    )
    capacity.add_argument(
        "--start-rate",
        type=float_in(0, MAX_RATE),
        default=1000.0,
        help="first offered rate, joins/s (default 1000)",
    )
    capacity.add_argument(
        "--max-rate",
        type=float_in(0, MAX_RATE),
        default=20000.0,
        help="last offered rate, joins/s (default 20000)",
    )
    capacity.add_argument(
        "--users",
        type=int_in(1, MAX_LOCUST_USERS),
        default=50,
        help="Locust users per step (default 50)",
    )
    capacity.add_argument(
        "--processes",
        type=_processes,
        default=1,
        help=f"Locust processes on this machine, 1..{MAX_PROCESSES} (default 1; >1 runs a "
        "master + workers), or auto: each configuration's first step runs one and measures "
        "Locust's CPU per join, every later step runs as many as its rate needs at "
        f"{GENERATOR_HEADROOM * 100:.0f} %% of a core each, at most this machine's cores",
    )
    capacity.add_argument(
        "--expect-workers",
        type=int_in(1, MAX_PROCESSES),
        default=None,
        help="run each step's Locust master only and wait for N workers started elsewhere "
        "(the command to start them is printed for each step); their CPU is what each "
        "measures of itself over its window",
    )
    capacity.add_argument(
        "--master-bind-host",
        default="127.0.0.1",
        help="with --expect-workers: the address the master listens on for its workers "
        "(default 127.0.0.1; 0.0.0.0 for workers on other machines)",
    )
    capacity.add_argument(
        "--master-bind-port",
        type=int_in(1, 65535),
        default=None,
        help="with --expect-workers: the master's port, the same for every step (default: a "
        "free one, chosen once)",
    )
    capacity.add_argument(
        "--slo-ms", type=positive_float, default=10.0, help="p99 objective in ms (default 10)"
    )
    capacity.add_argument(
        "--peak", type=positive_float, default=50000.0, help="expected peak joins/s (default 50000)"
    )
    capacity.add_argument(
        "--target-utilization",
        type=float_in(0, 1),
        default=0.7,
        help="share of one core each primary is planned to run at, in (0, 1] (default 0.7)",
    )
    capacity.add_argument(
        "--verify",
        action="store_true",
        help="after the sweep, one more step per configuration at the predicted saturation "
        "rate, Redis and Locust on separate cores where this machine allows (a local "
        "redis-server behind a loopback URL), with as many Locust processes as needed",
    )
    capacity.add_argument(
        "--quick",
        action="store_true",
        help="a sub-minute sweep: 3 steps of 3 s (after 1 s of warm-up), 500..4000 joins/s",
    )
    capacity.set_defaults(handler=run)


def _processes(text: str) -> int | str:
    """``--processes``: ``auto`` or a count."""
    if text == AUTO:
        return AUTO
    try:
        return int_in(1, MAX_PROCESSES)(text)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{exc}, or {AUTO}") from None


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    require_extra(NAME, "load")
    url = required_redis_url(args.redis_url, NAME, "the Redis to measure")
    plan = plan_of(args, url)
    if plan.expect_workers and not plan.master_port:
        plan = replace(plan, master_port=free_port())  # one port: one worker command
    client = open_clients(url).sync  # fail fast, in one line, if the server cannot be reached
    primaries = primaries_of(client, url)
    replicas = _replicas(client, plan.replicas_needed)
    plan.out.mkdir(parents=True, exist_ok=True)
    steps: list[Step] = []
    verifications: list[Verification] = []
    interrupted = False
    log = CsvLog(plan.out / "capacity.csv", plan)
    try:
        for step in sweep(plan, client, primaries, _progress):
            steps.append(step)
            log.write(step)
        if plan.verify:
            for verification in verify(plan, client, primaries, steps, _progress):
                steps.append(verification.step)
                verifications.append(verification)
                log.write(verification.step)
    except KeyboardInterrupt:
        interrupted = True
    finally:  # whatever stopped the run, the plan for what finished is written
        log.close()
        _write(plan, steps, verifications, command_line(args.argv), interrupted, replicas)
    for found, _ in all_findings(plan, steps):
        if found.summary:
            print(summary_line(found.summary))
    failed = [s for s in steps if s.audit_failed]
    if failed:
        print(
            f"lobbysim capacity: the audit failed (a broken guarantee, or no verdict) at "
            f"{plural(len(failed), 'step', 'steps')}: "
            + "; ".join(f"{s.config.label}, {s.phase} {s.offered:,.0f} joins/s" for s in failed),
            file=sys.stderr,
        )
    return exit_status(steps, interrupted)


def exit_status(steps: list[Step], interrupted: bool) -> int:
    """A failed audit (1) wins over everything, an interrupt included, as a broken guarantee
    does for every command; then the interrupt (130); then a step that measured nothing (4)."""
    if any(s.audit_failed for s in steps):
        return EXIT_VIOLATIONS
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_MEASURED_NOTHING if any(s.vacuous for s in steps) else 0


def _replicas(client: object, needed: int) -> str | None:
    """The replication a plan that waits needs, checked before any step (a wait no replica
    can answer would fail every join); in words for the report. None if no wait."""
    if not needed:
        return None
    in_sync = in_sync_replicas(client)
    if in_sync < needed:
        raise UsageError(
            f"--wait-replicas {needed} needs {plural(needed, 'replica', 'replicas')} in sync "
            f"with each primary; the Redis measured has {in_sync}"
        )
    return f"{plural(in_sync, 'replica', 'replicas')} in sync with each primary"


def _write(
    plan: Plan, steps: list[Step], verifications: list[Verification], command: str,
    interrupted: bool, replicas: str | None,
) -> None:  # fmt: skip
    out = plan.out
    write_report(out / "report.md", plan, steps, verifications, command, interrupted, replicas)
    if steps:
        write_plot(out / "capacity.png", plan, steps)
    print(f"wrote {out / 'capacity.csv'}, {out / 'report.md'}"
          + (f", {out / 'capacity.png'}" if steps else ""), file=sys.stderr)  # fmt: skip
