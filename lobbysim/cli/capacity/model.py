"""What a sweep's steps mean: which side limited each step, what one primary sustains, and
how many primaries a peak needs. Pure functions of the measured steps (no I/O), so the rules
can be tested on steps made up for the purpose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from .plan import Config

BOUND = 0.85
"""A side is at its limit when it wanted a core (running, or runnable and waiting) at least
this share of the time, on every core it can use."""

BUSY = 0.5
"""Redis CPU per join is measured well only when Redis is at least this busy: at light load
requests arrive a few at a time and each pays its own I/O, so a join looks up to twice as
costly as it is near saturation."""

KEEPS_UP = 0.9
"""A step keeps up when it achieves at least this share of its offered rate."""


class Bottleneck(StrEnum):
    SERVER = "server-bound"
    GENERATOR = "generator-bound"
    NEITHER = "neither"


BOTTLENECK_RULE = (
    f"**server-bound** when the busiest Redis primary was on a core, or runnable and waiting "
    f"for one, at least {BOUND:.0%} of the step (INFO CPU, plus the wait read from /proc when "
    f"Redis runs on this machine); otherwise **generator-bound** when the Locust processes "
    f"were, on average over the cores they could use (one per load process at most), at least "
    f"{BOUND:.0%}; otherwise **neither** (both sides had room: a step that still fell behind "
    f"lost its time elsewhere, such as other programs on a shared machine; see the machine "
    f"column)."
)


@dataclass(frozen=True)
class Step:
    """One Locust run at one offered rate, measured on both sides."""

    strategy: str
    max_users: int
    shards: int
    phase: str
    """``sweep`` or ``verify``."""
    offered: float
    achieved: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    requests: int
    errors: int
    audit_ok: bool
    exact_count: bool | None
    """Locust's count of placed buyers equals the server's (None: the naive store keeps none)."""
    window_s: float
    """Seconds over which both sides' CPU was measured (while joins arrived)."""
    redis_cpu_pct: float
    """Redis CPU over the window, % of one core, summed over the primaries."""
    busiest_primary_pct: float
    """The busiest primary's CPU, % of one core."""
    busiest_primary_demand_pct: float
    """The busiest primary's CPU plus its wait for a core, % of one core."""
    primaries_used: int
    redis_ops: int
    """Script calls Redis ran in the window (one per join)."""
    redis_us_per_op: float
    """Redis CPU per join, µs (NaN when no script call was counted, as for the naive store)."""
    load_processes: int
    generator_cores: int
    """Cores the Locust processes could use: at most one per load process."""
    pinned: bool
    """Locust pinned to cores Redis was not on."""
    generator_cpu_pct: float
    """Locust CPU over the window, % of ``generator_cores``."""
    generator_demand_pct: float
    """Locust CPU plus its wait for a core, % of ``generator_cores``."""
    generator_us_per_op: float
    """Locust CPU per join, µs."""
    machine_cpu_pct: float
    """This machine's cores in use by anything, %."""
    others_cpu_pct: float
    """CPU of every other program on this machine (not Locust, not a local Redis), % of
    one core: what a shared machine took from the two sides."""
    redis_memory_mb: float

    @property
    def config(self) -> Config:
        return Config(self.strategy, self.max_users, self.shards)

    @property
    def bottleneck(self) -> Bottleneck:
        if self.busiest_primary_demand_pct >= BOUND * 100:
            return Bottleneck.SERVER
        if self.generator_demand_pct >= BOUND * 100:
            return Bottleneck.GENERATOR
        return Bottleneck.NEITHER

    @property
    def keeps_up(self) -> bool:
        return self.achieved >= KEEPS_UP * self.offered

    def primary_rate(self, utilization: float) -> float:
        """Joins/s one primary sustains at ``utilization`` if a join costs what it cost here."""
        if not self.redis_us_per_op > 0:
            return math.nan
        return utilization * 1e6 / self.redis_us_per_op


def knee(steps: list[Step], slo_ms: float) -> Step | None:
    """The step with the highest achieved rate whose p99 met the objective (and kept up)."""
    good = [s for s in steps if s.p99_ms <= slo_ms and s.errors == 0 and s.keeps_up]
    return max(good, key=lambda s: s.achieved, default=None)


def knee_limit(steps: list[Step], best: Step) -> Step | None:
    """The step that ended the knee: the next offered rate above it (None: the sweep ended)."""
    above = [s for s in steps if s.offered > best.offered]
    return min(above, key=lambda s: s.offered, default=None)


@dataclass(frozen=True)
class Prediction:
    """A primary's capacity from its own cost: Redis CPU per join at ``basis``."""

    basis: Step
    utilization: float

    @property
    def us_per_op(self) -> float:
        return self.basis.redis_us_per_op

    @property
    def busy(self) -> bool:
        """Measured where Redis was busy enough (else the cost is overstated)."""
        return self.basis.busiest_primary_pct >= BUSY * 100

    @property
    def saturation(self) -> float:
        """Joins/s one primary runs at 100 % of a core."""
        return 1e6 / self.us_per_op

    @property
    def per_primary(self) -> float:
        """Joins/s one primary runs at the target utilisation."""
        return self.utilization * self.saturation


def predict(steps: list[Step], utilization: float) -> Prediction | None:
    """From the step where Redis was busiest (cost per join falls as load rises, so that is
    the closest to saturation); None if no step counted script calls without errors."""
    measured = [s for s in steps if s.redis_us_per_op > 0 and s.errors == 0]
    basis = max(measured, key=lambda s: s.busiest_primary_pct, default=None)
    return None if basis is None else Prediction(basis, utilization)


@dataclass(frozen=True)
class Recommendation:
    per_primary: float
    """Joins/s one primary is planned for."""
    source: str
    """What ``per_primary`` comes from, in words."""
    primaries: int
    """Primaries the peak needs."""
    prediction: Prediction
    knee: Step | None
    """The sweep's knee at the SLO, if any."""
    knee_limited_by: Bottleneck | None
    """What ended the knee (None: the sweep ended while still meeting the SLO)."""

    @property
    def knee_used(self) -> bool:
        return self.source.startswith("the server-bound knee")


def recommend(
    steps: list[Step], slo_ms: float, utilization: float, peak: float
) -> Recommendation | None:
    """The plan for ``peak`` from one configuration's steps: the prediction at the target
    utilisation, lowered to the knee at the SLO only when Redis (not the generator) ended it.
    None when nothing could be measured (no script calls: the naive store)."""
    prediction = predict(steps, utilization)
    if prediction is None:
        return None
    sweep = [s for s in steps if s.phase == "sweep"]
    best = knee(sweep, slo_ms)
    limit = None if best is None else knee_limit(sweep, best)
    limited_by = None
    if best is not None:
        limited_by = (
            Bottleneck.SERVER if best.bottleneck is Bottleneck.SERVER else
            None if limit is None else limit.bottleneck
        )  # fmt: skip
    per_primary = prediction.per_primary
    source = (
        f"Redis's own cost, {prediction.us_per_op:.1f} µs of CPU per join, at "
        f"{utilization:.0%} of one core"
    )
    if best is not None and limited_by is Bottleneck.SERVER:
        knee_rate = best.achieved / max(1, best.primaries_used)
        if knee_rate < per_primary:
            per_primary = knee_rate
            source = (
                f"the server-bound knee at the SLO, {knee_rate:,.0f} joins/s per primary "
                f"(below the {prediction.per_primary:,.0f} Redis's cost allows at "
                f"{utilization:.0%})"
            )
    return Recommendation(
        per_primary=per_primary,
        source=source,
        primaries=max(1, math.ceil(peak / per_primary)),
        prediction=prediction,
        knee=best,
        knee_limited_by=limited_by,
    )
