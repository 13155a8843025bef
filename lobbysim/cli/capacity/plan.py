"""What a capacity sweep runs: its configurations and offered rates, checked before any run."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._common import UsageError

MAX_RATE = 1_000_000.0
"""Joins/s, at most, offered by a step."""
MAX_STEPS = 50
"""Load steps per configuration, at most."""


@dataclass(frozen=True)
class Config:
    """One line of the report: a store, a lobby size, a shard count."""

    strategy: str
    max_users: int
    shards: int

    @property
    def label(self) -> str:
        shards = f", {self.shards} shards" if self.shards > 1 else ""
        return f"{self.strategy}, lobbies of {self.max_users}{shards}"


@dataclass(frozen=True)
class Plan:
    redis_url: str
    out: Path
    max_users: list[int]
    strategies: list[str]
    shards: list[int]
    rates: list[float]
    step_seconds: float
    users: int
    processes: int
    slo_ms: float
    peak: float
    target_utilization: float
    """Share of one core each primary is planned to run at."""
    verify: bool

    @property
    def configs(self) -> list[Config]:
        """Every configuration; the naive store has no shards, so it runs unsharded only."""
        return [
            Config(strategy, max_users, shards)
            for strategy in self.strategies
            for max_users in self.max_users
            for shards in (self.shards if strategy == "atomic" else [1])
        ]


def rates_between(low: float, high: float, steps: int) -> list[float]:
    """``steps`` offered rates from ``low`` to ``high``, evenly spaced on a log scale."""
    if steps == 1:
        return [high]
    ratio = (high / low) ** (1 / (steps - 1))
    return [float(round(low * ratio**i)) for i in range(steps)]


QUICK: dict[str, Any] = {
    "steps": 3,
    "step_seconds": 3.0,
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
    return Plan(
        redis_url=redis_url,
        out=Path(args.out),
        max_users=args.max_users,
        strategies=args.strategy,
        shards=args.shards,
        rates=rates_between(settings["start_rate"], settings["max_rate"], settings["steps"]),
        step_seconds=settings["step_seconds"],
        users=settings["users"],
        processes=args.processes,
        slo_ms=args.slo_ms,
        peak=args.peak,
        target_utilization=args.target_utilization,
        verify=args.verify,
    )
