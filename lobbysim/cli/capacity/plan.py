"""What a capacity sweep runs: its configurations and offered rates, checked before any run."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lobbycore.defaults import DEFAULT_WAIT_TIMEOUT

from .._common import UsageError

MAX_RATE = 1_000_000.0
"""Joins/s, at most, offered by a step."""
MAX_STEPS = 50
"""Load steps per configuration, at most."""
AUTO = "auto"
"""``--processes auto``."""


@dataclass(frozen=True)
class Config:
    """One line of the report: a store, a lobby size, a shard count, a durability wait."""

    strategy: str
    max_users: int
    shards: int
    wait_replicas: int = 0

    @property
    def label(self) -> str:
        shards = f", {self.shards} shards" if self.shards > 1 else ""
        wait = f", {wait_basis(self.wait_replicas)}" if self.wait_replicas else ""
        return f"{self.strategy}, lobbies of {self.max_users}{shards}{wait}"


def wait_basis(replicas: int) -> str:
    """What a durability wait costs each join, in the report's words."""
    return f"with WAIT {replicas} per write"


@dataclass(frozen=True)
class Plan:
    redis_url: str
    out: Path
    max_users: list[int]
    strategies: list[str]
    shards: list[int]
    rates: list[float]
    step_seconds: float
    """Seconds of each step's measured window."""
    warmup_seconds: float
    """Seconds each step runs before its window opens."""
    users: int
    processes: int
    slo_ms: float
    peak: float
    target_utilization: float
    """Share of one core each primary is planned to run at."""
    verify: bool
    wait_replicas: list[int] = field(default_factory=lambda: [0])
    wait_timeout: float = DEFAULT_WAIT_TIMEOUT
    auto_processes: bool = False
    """``--processes auto``: each configuration's first step runs ``processes`` (1) and
    measures Locust's cost per join; every later step as many as its rate needs."""
    expect_workers: int = 0
    """Master-only: each step waits for this many workers started by the user (0: none)."""
    master_host: str = "127.0.0.1"
    master_port: int = 0
    """Where a master-only step's master listens for its workers (the same for every step)."""

    @property
    def configs(self) -> list[Config]:
        """Every configuration; the naive store has no shards and cannot wait for replicas,
        so it runs unsharded and without a wait only."""
        return [
            Config(strategy, max_users, shards, wait)
            for strategy in self.strategies
            for max_users in self.max_users
            for shards in (self.shards if strategy == "atomic" else [1])
            for wait in (self.wait_replicas if strategy == "atomic" else [0])
        ]

    @property
    def replicas_needed(self) -> int:
        """Replicas each primary must have in sync for the plan's waits (0: none)."""
        return max((c.wait_replicas for c in self.configs), default=0)


def rates_between(low: float, high: float, steps: int) -> list[float]:
    """``steps`` offered rates from ``low`` to ``high``, evenly spaced on a log scale."""
    if steps == 1:
        return [high]
    ratio = (high / low) ** (1 / (steps - 1))
    return [float(round(low * ratio**i)) for i in range(steps)]


QUICK: dict[str, Any] = {
    "steps": 3,
    "step_seconds": 3.0,
    "warmup_seconds": 1.0,
    "users": 20,
    "start_rate": 500.0,
    "max_rate": 4000.0,
}
"""What ``--quick`` sets: a sub-minute sweep."""


def plan_of(args: argparse.Namespace, redis_url: str) -> Plan:
    """The plan the options ask for (each option is range-checked by its argument type;
    what spans two options is checked here)."""
    settings = {key: getattr(args, key) for key in QUICK} | (QUICK if args.quick else {})
    if settings["start_rate"] > settings["max_rate"]:
        raise UsageError(
            f"--start-rate must be <= --max-rate, got {settings['start_rate']:g} > "
            f"{settings['max_rate']:g}"
        )
    auto = args.processes == AUTO
    if args.expect_workers and (auto or args.processes != 1):
        raise UsageError("--expect-workers runs the master only: drop --processes")
    if args.expect_workers and args.verify:
        raise UsageError(
            "--verify places Locust on this machine's cores: it cannot run with --expect-workers"
        )
    return Plan(
        redis_url=redis_url,
        out=Path(args.out),
        max_users=args.max_users,
        strategies=args.strategy,
        shards=args.shards,
        rates=rates_between(settings["start_rate"], settings["max_rate"], settings["steps"]),
        step_seconds=settings["step_seconds"],
        warmup_seconds=settings["warmup_seconds"],
        users=settings["users"],
        processes=1 if auto else args.processes,
        auto_processes=auto,
        expect_workers=args.expect_workers or 0,
        master_host=args.master_bind_host,
        master_port=args.master_bind_port or 0,
        slo_ms=args.slo_ms,
        peak=args.peak,
        target_utilization=args.target_utilization,
        verify=args.verify,
        wait_replicas=args.wait_replicas,
        wait_timeout=args.wait_timeout,
    )
