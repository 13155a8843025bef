"""What one configuration's rows say: every sentence of the report's answer that states a fact
(the plan and its basis, where the SLO held or failed, the bottlenecks, the knee, the audit,
the verification) and the command's summary line, computed by one function, ``findings``,
from the very rows the report's table shows. Nothing is noted aside while the steps run, so
a sentence cannot disagree with its table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .model import (
    BUSY,
    Bottleneck,
    Prediction,
    Recommendation,
    Step,
    checks,
    knee_limit,
    recommend,
)
from .plan import Config, wait_basis


@dataclass(frozen=True)
class Criteria:
    """What the rows are judged against (the plan's options)."""

    slo_ms: float
    target_utilization: float
    peak: float
    wait_timeout: float = 1.0


@dataclass(frozen=True)
class Findings:
    config: Config
    recommendation: Recommendation | None
    sentences: tuple[str, ...]
    """The report's answer for this configuration, in order."""
    summary: dict[str, str]
    """The summary line's fields (empty for a configuration that is not sized)."""

    @property
    def text(self) -> str:
        return " ".join(self.sentences)


def plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _number(value: float, digits: int = 0) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.{digits}f}"


def rates(steps: Sequence[Step]) -> str:
    """``500, 1,414 and 4,000 joins/s offered`` (a verify step says so)."""
    names = [f"{s.offered:,.0f}" + (" (verify)" if s.phase == "verify" else "") for s in steps]
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    return f"{listed} joins/s offered"


def _key(steps: Sequence[Step]) -> str:
    """Steps as a summary-line value: ``500,verify@12000``; ``none`` if there are none."""
    return ",".join(
        f"{'verify@' if s.phase == 'verify' else ''}{s.offered:.0f}" for s in steps
    ) or ("none")


def bottleneck_of(step: Step) -> str:
    """A row's bottleneck as the table shows it (a step that answered nothing has none)."""
    return "measured nothing" if step.vacuous else str(step.bottleneck)


def findings(
    config: Config, rows: Sequence[Step], criteria: Criteria,
    one_primary: Sequence[Step] = (),
) -> Findings:  # fmt: skip
    """The answer for ``config`` from its rows (sweep and verify steps, in the table's order);
    ``one_primary``: for a sharded configuration, the rows of the same one on one shard,
    whose cost-against-load curve its plan applies when its own primaries were not loaded
    near the target (see ``model.predict``)."""
    rows = list(rows)
    one = list(one_primary)
    failed = [s for s in rows if s.audit_failed]
    audit_key = "failed@" + _key(failed) if failed else "ok"
    if config.strategy != "atomic":
        sentence = (
            "The naive store breaks the guarantees (see its audit column), so it is not sized; "
            "its rows show what the article's algorithm costs."
        )
        # Not sized, but its line still says where its audit failed: the run's exit status
        # (1) comes from those steps.
        summary = _summary(config, None, {"audit": audit_key, "caveats": "not_sized"})
        return Findings(config, None, (sentence,), summary)
    sweep = [s for s in rows if s.phase == "sweep"]
    slo = f"p99 ≤ {criteria.slo_ms:g} ms"
    said: list[str] = []
    caveats: list[str] = []

    vacuous = [s for s in rows if s.vacuous]
    if vacuous:
        caveats.append("measured_nothing")
        said.append(
            f"**{plural(len(vacuous), 'step', 'steps')} measured nothing** (no join answered in "
            f"its measured window; its audit checked nothing): {rates(vacuous)}; left out of "
            "the plan and the knee."
        )

    r = recommend(rows, criteria.slo_ms, criteria.target_utilization, criteria.peak, one)
    wait = f", {wait_basis(config.wait_replicas)}" if config.wait_replicas else ""
    if r is None:
        said.append("No step had joins answered without error and counted on the server: no plan.")
    else:
        said += _plan(config, r, criteria, wait, verified=any(s.phase == "verify" for s in rows))
        if not r.prediction.busy:
            caveats.append("light_load")
        elif not r.prediction.near_target:
            caveats.append("cost_not_at_target")
        if r.prediction.borrowed is not None:
            caveats.append("one_primary_curve")

    measured = [s for s in rows if not s.vacuous]
    server = [s for s in measured if s.bottleneck is Bottleneck.SERVER]
    if measured and not server:
        caveats.append("no_server_bound_step")
        busiest = max((s.busiest_primary_pct for s in measured), default=math.nan)
        said.append(
            f"**No step was server-bound**: Redis's busiest primary used at most "
            f"{_number(busiest)} % of a core, so the count is a prediction from Redis's own "
            "cost per join, not a measured limit."
        )
    elif server:
        said.append(f"Server-bound: {rates(server)}.")
    said.append(
        "Bottleneck by step: "
        + ", ".join(
            f"{s.offered:,.0f}{' (verify)' if s.phase == 'verify' else ''} {bottleneck_of(s)}"
            for s in rows
        )
        + "."
    )
    generator = [s for s in measured if s.bottleneck is Bottleneck.GENERATOR]
    if generator:
        caveats.append("generator_bound_steps")
        said.append(
            f"**Generator-bound** (they measure this Locust, not Redis): {rates(generator)}."
        )

    misses = [(s, why) for s in sweep if (why := s.slo_miss(criteria.slo_ms)) is not None]
    if sweep and not misses:
        slo_key = "held"
        said.append(
            f"The SLO ({slo}) held at every sweep step ({sweep[0].offered:,.0f} to "
            f"{sweep[-1].offered:,.0f} joins/s offered)."
        )
    elif sweep:
        slo_key = "missed@" + _key([s for s, _ in misses])
        caveats.append("slo_missed")
        where = "; ".join(f"{s.offered:,.0f} joins/s offered ({why})" for s, why in misses)
        said.append(
            f"No sweep step met the SLO ({slo}): {where}."
            if len(misses) == len(sweep)
            else f"The SLO ({slo}) was missed at {len(misses)} of {len(sweep)} sweep steps: "
            f"{where}."
        )
    else:
        slo_key = "no_sweep"
    if r is not None and r.knee is not None:
        said.append(_knee(r, sweep, criteria))
        if not r.knee_used and Bottleneck.GENERATOR in (r.knee.bottleneck, r.knee_limited_by):
            caveats.append("generator_bound_knee")

    if failed:
        caveats.append("audit_failed")
        said.append(
            f"**The audit failed** at {rates(failed)}: a guarantee broke there (see the audit "
            "column), so these figures size a store that did not keep its guarantees."
        )
    elif measured:
        said.append("Every step that answered joins passed its audit.")

    verify_key = "not_run"
    for check in checks(rows, criteria.target_utilization, one):
        s = check.step
        verify_key = check.key
        if not check.agrees:
            caveats.append(f"verify_{verify_key}")
        if s.vacuous:
            said.append(f"Verification: **{check.verdict}**.")
            continue
        text = (
            f"Verification: predicted {check.predicted:,.0f} joins/s at saturation, achieved "
            f"{s.achieved:,.0f} ({check.ratio:.0%} of predicted, {s.bottleneck}): "
            f"**{check.verdict}**."
        )
        if not check.conclusive:
            text += (
                f" Redis's CPU there, {_number(s.busiest_primary_pct)} % against "
                f"{check.redis_predicted_pct:.0f} % predicted at that rate, checks the cost "
                "per join."
            )
        said.append(text)

    if r is None:
        # Without a plan, the caveats that qualify a plan do not apply; why there is none
        # and a failed audit do.
        kept = [c for c in caveats if c in ("measured_nothing", "audit_failed")]
        fields = {"audit": audit_key, "caveats": ",".join(kept) or "no_plan"}
        return Findings(config, None, tuple(said), _summary(config, None, fields))
    basis = r.knee if r.knee_used and r.knee is not None else r.prediction.basis
    fields = {
        "basis": "server_bound_knee" if r.knee_used else "redis_cost_per_join",
        "basis_step": f"{basis.phase}@{basis.offered:.0f}",
        "basis_redis_pct": f"{basis.primary_load_pct:.0f}",
        "cost_curve": "own" if r.prediction.borrowed is None else "shards=1",
        "slo": slo_key,
        "generator_bound": _key(generator),
        "audit": audit_key,
        "measured_nothing": _key(vacuous),
        "verify": verify_key,
        "caveats": ",".join(caveats) or "none",
    }
    return Findings(config, r, tuple(said), _summary(config, r, fields))


def _summary(config: Config, r: Recommendation | None, fields: dict[str, str]) -> dict[str, str]:
    head = {
        "strategy": config.strategy,
        "max_users": str(config.max_users),
        "shards": str(config.shards),
    }
    if config.wait_replicas:
        head["wait_replicas"] = str(config.wait_replicas)
    if r is None:
        return head | {"primaries": "none", **fields}
    return head | {
        "primaries": str(r.primaries),
        "per_primary": f"{r.per_primary:.0f}",
        "us_per_join": f"{r.prediction.us_per_op:.1f}",
        **fields,
    }


def _plan(
    config: Config, r: Recommendation, criteria: Criteria, wait: str, *, verified: bool
) -> list[str]:
    p = r.prediction
    u = criteria.target_utilization
    said = [
        f"For a peak of {criteria.peak:,.0f} joins/s you need "
        f"**{plural(r.primaries, 'primary', 'primaries')}**{wait}, each planned at "
        f"{r.per_primary:,.0f} joins/s ({u:.0%} of one core)."
    ]
    cost = f"Redis's own cost, {p.us_per_op:.1f} µs of CPU per join at {u:.0%} of one core, " + (
        _where(p, verified)
    )
    if r.knee_used and r.knee is not None:
        k = r.knee
        said.append(
            f"Basis: the server-bound knee at the SLO, {r.per_primary:,.0f} joins/s per primary "
            f"(the {k.phase} step offered {k.offered:,.0f} joins/s), below the "
            f"{p.per_primary:,.0f} that {cost} allows at {u:.0%}."
        )
    else:
        said.append(f"Basis: {cost}; one primary saturates at {p.saturation:,.0f} joins/s.")
    if p.borrowed is not None:
        said.append(
            f"This pool's own steps loaded each of its "
            f"{plural(p.primaries, 'primary', 'primaries')} at most {p.own_top_pct:.0f} % of a "
            f"core, short of {u:.0%}, so the plan applies the cost-against-load curve measured "
            f"on one primary ({p.borrowed.label}) at the per-primary rate: a primary's cost "
            "per join depends on its own load (how many calls share a read), not on how many "
            "primaries share the joins (the report's *cost per join against a primary's load* "
            "compares this pool's steps with that curve at the same load)."
        )
    if config.wait_replicas:
        said.append(
            f"Every join waited for {plural(config.wait_replicas, 'replica', 'replicas')} to "
            f"acknowledge it (WAIT {config.wait_replicas}, at most {criteria.wait_timeout:g} s, "
            "in the same round trip): that cost and latency are in every figure here."
        )
    if config.shards > 1:
        said.append(
            f"A pool of {config.shards} shards spreads over at most {config.shards} primaries, "
            f"so it carries at most {config.shards * r.per_primary:,.0f} joins/s at this "
            f"utilisation; the peak needs at least {r.primaries} shards on "
            f"{plural(r.primaries, 'primary', 'primaries')}."
        )
    elif r.primaries > 1:
        said.append(
            f"One pool lives on one primary: spread the peak over {r.primaries} pools, or "
            f"shard the pool (--shards ≥ {r.primaries}) on a cluster."
        )
    return said


def _step_words(s: Step) -> str:
    return (
        f"the {s.phase} step offered {s.offered:,.0f} joins/s (achieved {s.achieved:,.0f}, a "
        f"primary {s.primary_load_pct:.0f} % busy, {s.redis_us_per_op:.1f} µs per join)"
    )


def _where(p: Prediction, verified: bool) -> str:
    """Where on the cost-against-load curve the plan's cost was read, and how good it is."""
    at = p.at_target
    target = at.load_pct
    if at.interpolated:
        low, high = at.around
        return f"interpolated on the load between {_step_words(low)} and {_step_words(high)}"
    b = at.nearest
    load = b.primary_load_pct
    if at.near:
        return f"measured at {_step_words(b)}, near the target"
    if load > target:
        quality = (
            "no step ran a primary nearer the target: the cost at the target is higher, so "
            "the count errs low"
        )
    elif load >= BUSY * 100:
        quality = (
            "no step ran a primary nearer the target: the cost at the target is lower, so "
            "the count errs high"
        )
    else:
        quality = (
            f"below {BUSY:.0%}: at light load joins arrive a few at a time and each pays its "
            "own I/O, so this cost is overstated and the count errs high"
            + ("" if verified else "; --verify takes Redis further where the machine allows")
        )
    return f"measured at {_step_words(b)}: {quality}"


def _knee(r: Recommendation, sweep: list[Step], criteria: Criteria) -> str:
    k = r.knee
    assert k is not None
    text = (
        f"The knee, the highest sweep rate that met the SLO: {k.achieved:,.0f} joins/s "
        f"achieved ({k.offered:,.0f} offered, Redis {k.busiest_primary_pct:.0f} % busy, "
        f"{k.bottleneck})"
    )
    used = "used" if r.knee_used else "not used: Redis's cost gives the lower figure"
    if k.bottleneck is Bottleneck.SERVER:
        return f"{text}: server-bound, so it is Redis's; {used}."
    limit = knee_limit(sweep, k)
    if limit is None:
        return (
            f"{text}. It is the sweep's last step that measured something: the sweep ended "
            "before finding where the SLO breaks; not used."
        )
    why = limit.slo_miss(criteria.slo_ms) or "it met the SLO, below the knee's rate"
    above = f"The step above it ({limit.offered:,.0f} offered: {why}) was {limit.bottleneck}"
    if limit.bottleneck is Bottleneck.SERVER:
        return f"{text}. {above}: the knee is Redis's; {used}."
    if Bottleneck.GENERATOR in (k.bottleneck, limit.bottleneck):
        return (
            f"{text}. {above}: the knee says how far this generator goes, not the server, and "
            "is not used."
        )
    return (
        f"{text}. {above}: both sides had room (see the machine column), so the knee is not "
        "Redis's and is not used."
    )
