"""What a sweep's steps mean: which side limited each step, what one primary sustains, and
how many primaries a peak needs. Pure functions of the measured steps (no I/O), so the rules
can be tested on steps made up for the purpose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
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

VERIFY_TOLERANCE = 0.15
"""A verification agrees with its prediction within this share."""

GENERATOR_HEADROOM = 0.7
"""Verify gives Locust enough processes to run each at most this busy."""

NEAR = 0.15
"""A cost measured within this share of a core of the target utilisation is taken as the
cost there when no two steps lie either side of it."""


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
    """Joins answered without error in the measured window, per second."""
    p50_us: float
    """The measured window's joins' latencies, µs from each join's intended send time (HDR
    histograms: exact below 2,048 µs, within 0.1 % above; NaN when none was answered)."""
    p95_us: float
    p99_us: float
    max_us: float
    requests: int
    """Joins answered (an error included) in the measured window: the latencies are theirs,
    each from its intended send time."""
    errors: int
    audit_ok: bool
    exact_count: bool | None
    """Locust's count of placed buyers equals the server's (None: the naive store keeps none)."""
    window_s: float
    """Seconds over which both sides' CPU was measured (the sampling intervals inside the
    measured window)."""
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
    wait_replicas: int = 0
    """Each writing call waited (WAIT, same round trip) for this many replicas."""
    p999_us: float = math.nan
    measured_s: float = math.nan
    """Seconds of the measured window: the step's latencies and achieved rate are the joins
    answered in it, after ``warmup_s`` of warm-up."""
    warmup_s: float = 0.0
    run_joins: int = 0
    """Joins answered in the whole Locust run, its warm-up and cool-down included (its
    audit's count): what the window left out is the difference."""
    violations: int = 0
    """Broken guarantees the step's audit counted (over the whole run)."""
    remote_load: bool = False
    """The load processes were workers started by the user (``--expect-workers``): their
    CPU is what each measured of itself over its window, without its wait for a core."""

    @property
    def config(self) -> Config:
        return Config(self.strategy, self.max_users, self.shards, self.wait_replicas)

    @property
    def answered(self) -> int:
        """Joins answered without error in the measured window."""
        return self.requests - self.errors

    @property
    def audit_failed(self) -> bool:
        """The audit did not pass: it counted a broken guarantee, or it never gave a verdict
        (the pool unreadable, the run stopped before it) on a step that answered joins. A
        step that answered none and whose audit counted nothing checked nothing: that is
        ``vacuous``'s, not a failure."""
        return not self.audit_ok and (self.violations > 0 or not self.vacuous)

    @property
    def vacuous(self) -> bool:
        """No join was answered in the measured window: the step measured (and its audit
        checked) nothing about the server's capacity."""
        return self.answered <= 0

    def slo_miss(self, slo_ms: float) -> str | None:
        """Why this step missed the objective, in words (None: it met it). A step meets it
        when joins were answered, without error, at p99 ≤ ``slo_ms`` (judged in µs), keeping
        up."""
        if self.requests == 0:
            return "no join was made"
        if self.vacuous:
            return "no join was answered"
        why = []
        if not self.p99_us <= slo_ms * 1000:
            why.append(f"p99 {ms_text(self.p99_us)} ms")
        if self.errors:
            why.append(f"{self.errors:,} failed joins")
        if not self.keeps_up:
            why.append(f"fell behind ({self.achieved:,.0f} of {self.offered:,.0f} joins/s)")
        return ", ".join(why) or None

    def meets(self, slo_ms: float) -> bool:
        return self.slo_miss(slo_ms) is None

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

    @property
    def primary_load_pct(self) -> float:
        """A primary's own load: the CPU of the primary that ran the joins, or the mean over
        the primaries that ran them, % of one core. What a join costs depends on it (how many
        calls share a read), not on how many primaries share the joins."""
        if self.primaries_used <= 1:
            return self.busiest_primary_pct
        if not (self.window_s > 0 and self.redis_us_per_op > 0):
            return math.nan
        used = self.redis_us_per_op * self.redis_ops / 1e6
        return used / self.window_s / self.primaries_used * 100

    def primary_rate(self, utilization: float) -> float:
        """Joins/s one primary sustains at ``utilization`` if a join costs what it cost here."""
        if not self.redis_us_per_op > 0:
            return math.nan
        return utilization * 1e6 / self.redis_us_per_op


def ms_text(us: float) -> str:
    """A latency in µs written in ms to the µs (``10.412``, ``36``); ``—`` for none."""
    if math.isnan(us):
        return "—"
    return f"{us / 1000:.3f}".rstrip("0").rstrip(".")


def knee(steps: list[Step], slo_ms: float) -> Step | None:
    """The step with the highest achieved rate that met the objective (see Step.meets)."""
    good = [s for s in steps if s.meets(slo_ms)]
    return max(good, key=lambda s: s.achieved, default=None)


def knee_limit(steps: list[Step], best: Step) -> Step | None:
    """The step that ended the knee: the next offered rate above it that measured something
    (None: the sweep ended)."""
    above = [s for s in steps if s.offered > best.offered and not s.vacuous]
    return min(above, key=lambda s: s.offered, default=None)


def costed(steps: list[Step]) -> list[Step]:
    """The steps that measured Redis's cost per join: script calls counted, no error, some
    join answered, a load known; by a primary's load, lightest first."""
    usable = [
        s for s in steps
        if s.redis_us_per_op > 0 and s.errors == 0 and not s.vacuous and s.primary_load_pct > 0
    ]  # fmt: skip
    return sorted(usable, key=lambda s: s.primary_load_pct)


@dataclass(frozen=True)
class CostAt:
    """Redis's cost per join on a cost-against-load curve at one load of a primary."""

    load_pct: float
    us_per_op: float
    around: tuple[Step, ...]
    """The steps it comes from: the two either side of the load (interpolated between them
    on the load), or the one nearest it."""

    @property
    def nearest(self) -> Step:
        return min(self.around, key=lambda s: abs(s.primary_load_pct - self.load_pct))

    @property
    def interpolated(self) -> bool:
        return len(self.around) == 2

    @property
    def near(self) -> bool:
        """Measured at or near the load: either side of it, or within NEAR of it."""
        return self.interpolated or abs(self.nearest.primary_load_pct - self.load_pct) <= NEAR * 100


def cost_at(curve: list[Step], load_pct: float, *, within: bool = False) -> CostAt | None:
    """The cost per join at a primary's ``load_pct`` on ``curve`` (``costed`` steps):
    interpolated between the steps either side of it, else the nearest step's. ``within``:
    None outside the curve's range instead."""
    if not curve:
        return None
    below = [s for s in curve if s.primary_load_pct <= load_pct]
    above = [s for s in curve if s.primary_load_pct >= load_pct]
    if below and above:
        low, high = below[-1], above[0]
        if high.primary_load_pct == low.primary_load_pct:
            return CostAt(load_pct, low.redis_us_per_op, (low,))
        share = (load_pct - low.primary_load_pct) / (high.primary_load_pct - low.primary_load_pct)
        us = low.redis_us_per_op + share * (high.redis_us_per_op - low.redis_us_per_op)
        return CostAt(load_pct, us, (low, high))
    if within:
        return None
    nearest = min(curve, key=lambda s: abs(s.primary_load_pct - load_pct))
    return CostAt(load_pct, nearest.redis_us_per_op, (nearest,))


@dataclass(frozen=True)
class Prediction:
    """A primary's capacity from its own cost per join at the target utilisation, read off a
    cost-against-load curve: the configuration's own, or (a sharded pool whose primaries
    this run could not load that far) the one measured on one primary."""

    at_target: CostAt
    utilization: float
    curve: tuple[Step, ...]
    """The steps of the curve the cost was read from, lightest load first."""
    primaries: int = 1
    """Primaries the configuration's own steps ran on."""
    borrowed: Config | None = None
    """The one-primary configuration whose curve was applied (None: the configuration's
    own)."""
    own_top_pct: float = math.nan
    """The highest primary load the configuration's own steps reached, %."""

    @property
    def basis(self) -> Step:
        """The step nearest the target on the curve."""
        return self.at_target.nearest

    @property
    def us_per_op(self) -> float:
        """Redis CPU per join at the target utilisation, µs: what the plan uses."""
        return self.at_target.us_per_op

    @property
    def near_target(self) -> bool:
        return self.at_target.near

    @property
    def busy(self) -> bool:
        """Measured where Redis was busy enough (else the cost is overstated)."""
        return self.near_target or self.basis.primary_load_pct >= BUSY * 100

    @property
    def saturation_us_per_op(self) -> float:
        """The cost where a primary saturates: the busiest point of the curve when it lies
        beyond the target (cost falls as load rises), else the target's."""
        top = self.curve[-1]
        if top.primary_load_pct > self.at_target.load_pct and top.redis_us_per_op > 0:
            return min(top.redis_us_per_op, self.us_per_op)
        return self.us_per_op

    @property
    def saturation(self) -> float:
        """Joins/s one primary runs at 100 % of a core."""
        return 1e6 / self.saturation_us_per_op

    @property
    def per_primary(self) -> float:
        """Joins/s one primary runs at the target utilisation."""
        return self.utilization * 1e6 / self.us_per_op


def one_primary_rows(config: Config, steps: list[Step]) -> list[Step]:
    """For a sharded configuration, the same store, lobbies and wait on one shard (one
    primary): whose curve its plan applies when its own primaries were not loaded that far.
    Empty for an unsharded configuration."""
    if config.shards <= 1:
        return []
    return [s for s in steps if s.config == replace(config, shards=1)]


def predict(
    steps: list[Step], utilization: float, one_primary: list[Step] | None = None
) -> Prediction | None:
    """Redis's cost per join at the target utilisation of a primary, from the steps'
    cost-against-load curve (it falls as load rises: at light load calls arrive a few at a
    time and each pays its own read). When the steps did not load a primary near the target
    and ``one_primary`` (the same configuration on one shard) did, its curve is applied at
    the target instead: a primary's cost depends on its own load, not on how many primaries
    share the joins. None if no step counted script calls without errors."""
    own = costed(steps)
    if not own:
        return None
    target = utilization * 100
    primaries = max(s.primaries_used for s in own)
    top = own[-1].primary_load_pct
    at = cost_at(own, target)
    assert at is not None
    prediction = Prediction(at, utilization, tuple(own), max(1, primaries), None, top)
    other = costed(one_primary or [])
    if at.near or not other:
        return prediction
    borrowed = cost_at(other, target)
    assert borrowed is not None
    if borrowed.near or abs(borrowed.nearest.primary_load_pct - target) < abs(
        at.nearest.primary_load_pct - target
    ):
        return replace(prediction, at_target=borrowed, curve=tuple(other),
                       borrowed=other[0].config)  # fmt: skip
    return prediction


def processes_needed(rate: float, steps: list[Step]) -> int:
    """Locust processes that run ``rate`` each at most GENERATOR_HEADROOM busy, from the
    generator's own cost per join in ``steps``."""
    costs = [s.generator_us_per_op for s in steps if s.generator_us_per_op > 0]
    if not costs:
        return 1
    return max(1, math.ceil(rate * min(costs) / 1e6 / GENERATOR_HEADROOM))


@dataclass(frozen=True)
class Check:
    """A verify step against what its configuration's sweep predicted, from the rows alone."""

    step: Step
    prediction: Prediction
    """From the sweep's rows only."""

    @property
    def primaries(self) -> int:
        """Primaries the pool's shards ran on in the sweep."""
        return self.prediction.primaries

    @property
    def predicted(self) -> float:
        """Joins/s the pool's primaries sustain at 100 % of a core each, as predicted."""
        return self.prediction.saturation * self.primaries

    @property
    def ratio(self) -> float:
        return self.step.achieved / self.predicted

    @property
    def redis_predicted_pct(self) -> float:
        """Busiest primary's CPU the prediction expects at the achieved rate."""
        return self.step.achieved / self.primaries * self.prediction.saturation_us_per_op / 1e4

    @property
    def starved(self) -> bool:
        """Server-bound by its wait for a core only: the busiest primary wanted a core but ran
        less than BOUND of the step (the machine's cores were taken), so its rate says what
        the machine left it, not what a primary sustains."""
        s = self.step
        return s.bottleneck is Bottleneck.SERVER and s.busiest_primary_pct < BOUND * 100

    @property
    def conclusive(self) -> bool:
        """Only a server-bound step that answered joins, its busiest primary on a core for
        most of it, can confirm or refute the prediction."""
        return (
            not self.step.vacuous and self.step.bottleneck is Bottleneck.SERVER
            and not self.starved
        )  # fmt: skip

    @property
    def agrees(self) -> bool:
        return self.conclusive and abs(self.ratio - 1) <= VERIFY_TOLERANCE

    @property
    def key(self) -> str:
        """The verdict as a summary line's value."""
        if self.step.vacuous:
            return "checked_nothing"
        if self.starved:
            return "inconclusive_waited_for_a_core"
        if not self.conclusive:
            return "inconclusive"
        return "agrees" if self.agrees else f"off_by_{self.ratio - 1:+.0%}"

    @property
    def verdict(self) -> str:
        """In words: agrees, off by how much, or why it cannot say."""
        if self.step.vacuous:
            return "checked nothing: no join was answered"
        s = self.step
        if self.starved:
            return (
                f"inconclusive: Redis waited for a core (its busiest primary on one "
                f"{s.busiest_primary_pct:.0f} % of the step, {s.busiest_primary_demand_pct:.0f} "
                f"% with its wait; this machine {s.machine_cpu_pct:.0f} % busy, other programs "
                f"{s.others_cpu_pct:.0f} % of a core), so it did not run at saturation"
            )
        if not self.conclusive:
            return f"inconclusive: {self.step.bottleneck}, Redis did not saturate"
        if self.agrees:
            return f"agrees (within {VERIFY_TOLERANCE:.0%})"
        return f"off by {self.ratio - 1:+.0%}"


def checks(
    steps: list[Step], utilization: float, one_primary: list[Step] | None = None
) -> list[Check]:
    """Each verify step of one configuration's rows, against its sweep's prediction
    (``one_primary``: see ``predict``; its sweep rows only, too)."""
    prediction = predict(
        [s for s in steps if s.phase == "sweep"],
        utilization,
        [s for s in one_primary or [] if s.phase == "sweep"],
    )
    if prediction is None:
        return []
    return [Check(s, prediction) for s in steps if s.phase == "verify"]


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
    steps: list[Step], slo_ms: float, utilization: float, peak: float,
    one_primary: list[Step] | None = None,
) -> Recommendation | None:  # fmt: skip
    """The plan for ``peak`` from one configuration's steps: the prediction at the target
    utilisation, lowered to the knee at the SLO only when Redis (not the generator) ended it.
    None when nothing could be measured (no script calls: the naive store). ``one_primary``:
    see ``predict``."""
    prediction = predict(steps, utilization, one_primary)
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
        f"Redis's own cost, {prediction.us_per_op:.1f} µs of CPU per join at "
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
