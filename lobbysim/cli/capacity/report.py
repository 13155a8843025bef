"""What a capacity sweep writes: capacity.csv (a row as each step finishes), report.md (the
plan: answer first, then each step with its bottleneck, then the assumptions) and
capacity.png. The answer's sentences are ``findings``', from the rows the tables show."""

from __future__ import annotations

import csv
import math
import shlex
from dataclasses import asdict, fields
from pathlib import Path
from typing import IO, Any

from lobbycore import redact_args, redact_url

from .findings import Criteria, Findings, bottleneck_of, findings, plural
from .model import (
    BOTTLENECK_RULE,
    BUSY,
    GENERATOR_HEADROOM,
    VERIFY_TOLERANCE,
    Bottleneck,
    Step,
    checks,
    cost_at,
    costed,
    knee,
    ms_text,
    one_primary_rows,
    predict,
    processes_needed,
)
from .plan import Config, Plan
from .run import COOL_DOWN_SECONDS, RAMP_SHARE, VERIFY_OVER, Verification

CSV_COLUMNS = [
    *(f.name for f in fields(Step)),
    "bottleneck",
    "primary_joins_per_s_at_target",
]
"""Every measured field, then what is derived from it: the bottleneck and the joins/s one
primary sustains at the target utilisation if a join costs Redis what it cost at this step."""


LATENCY_COLUMNS = ("p50_us", "p95_us", "p99_us", "max_us", "p999_us")
"""Whole µs (the HDR histograms' values), written as such."""


def _cell(value: Any, digits: int = 2) -> Any:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.{digits}f}"
    return value


class CsvLog:
    """capacity.csv, a row written (and flushed) as each step finishes."""

    def __init__(self, path: Path, plan: Plan) -> None:
        self.plan = plan
        self._file: IO[str] = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115
        self._writer = csv.DictWriter(self._file, fieldnames=CSV_COLUMNS)
        self._writer.writeheader()
        self._file.flush()

    def write(self, step: Step) -> None:
        row = asdict(step) | {
            "bottleneck": bottleneck_of(step),
            "primary_joins_per_s_at_target": math.nan
            if step.vacuous
            else step.primary_rate(self.plan.target_utilization),
        }
        self._writer.writerow(
            {key: _cell(value, 0 if key in LATENCY_COLUMNS else 2) for key, value in row.items()}
        )
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def command_line(argv: list[str]) -> str:
    """The command as typed, for the report (every password redacted, whatever its form)."""
    return "lobbysim " + " ".join(shlex.quote(a) for a in redact_args(argv))


def _n(value: float, digits: int = 0) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.{digits}f}"


def criteria(plan: Plan) -> Criteria:
    return Criteria(plan.slo_ms, plan.target_utilization, plan.peak, plan.wait_timeout)


def all_findings(plan: Plan, steps: list[Step]) -> list[tuple[Findings, list[Step]]]:
    """Each configuration that has rows: what its rows say, and the rows."""
    found = []
    for config in plan.configs:
        rows = [s for s in steps if s.config == config]
        if rows:
            one = one_primary_rows(config, steps)
            found.append((findings(config, rows, criteria(plan), one), rows))
    return found


def _answer(plan: Plan, steps: list[Step]) -> list[str]:
    lines = [
        f"- **{f.config.label}**: {f.text}"
        for f, _ in all_findings(plan, steps)
        if f.config.strategy == "atomic"
    ]
    if not lines:
        return ["No step of the atomic store finished: no plan.", ""]
    return [line for text in lines for line in (text, "")]


def _load(step: Step) -> str:
    """The Locust processes that sent the step's joins, and where."""
    if step.remote_load:
        return f"{step.load_processes} workers started elsewhere (their own CPU)"
    pinned = ", pinned" if step.pinned else ""
    return f"{step.load_processes}{pinned}"


def _step_table(plan: Plan, rows: list[Step]) -> list[str]:
    u = plan.target_utilization
    lines = [
        f"| step | offered joins/s | achieved joins/s | p50 ms (to the µs) | p99 ms | p99.9 ms "
        f"| SLO (p99 ≤ {plan.slo_ms:g} ms) | errors | audit "
        "| Redis CPU % (busiest primary) | Redis µs/join | Locust processes "
        "| Locust CPU % (of cores) | Locust µs/join | machine CPU % (other programs, % of a "
        f"core) | bottleneck | one primary at {u:.0%}, joins/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- | ---: | ---: | ---: "
        "| ---: | ---: | ---: | --- | ---: |",
    ]
    for s in rows:
        generator = f"{_n(s.generator_cpu_pct)} ({s.generator_cores})"
        if s.generator_demand_pct - s.generator_cpu_pct >= 10:
            generator += f", {_n(s.generator_demand_pct)} with wait"
        redis = _n(s.busiest_primary_pct)
        if s.busiest_primary_demand_pct - s.busiest_primary_pct >= 10:
            redis += f", {_n(s.busiest_primary_demand_pct)} with wait"
        bottleneck = bottleneck_of(s)
        if s.vacuous:
            bottleneck = f"**{bottleneck}**"
        elif s.bottleneck is Bottleneck.NEITHER and not s.keeps_up and s.machine_cpu_pct >= 90:
            bottleneck += f" (fell behind; machine {s.machine_cpu_pct:.0f} % busy)"
        miss = s.slo_miss(plan.slo_ms)
        slo = "met" if miss is None else f"**missed**: {miss}"
        audit = "**FAILED**" if s.audit_failed else "ok" if s.audit_ok else "checked nothing"
        lines.append(
            f"| {s.phase} | {s.offered:,.0f} | {s.achieved:,.0f} | {ms_text(s.p50_us)} "
            f"| {ms_text(s.p99_us)} | {ms_text(s.p999_us)} | {slo} | {s.errors} | {audit} "
            f"| {redis} | {_n(s.redis_us_per_op, 1)} | {_load(s)} | {generator} "
            f"| {_n(s.generator_us_per_op, 1)} | {_n(s.machine_cpu_pct)} ({_n(s.others_cpu_pct)}) "
            f"| {bottleneck} | {'—' if s.vacuous else _n(s.primary_rate(u))} |"
        )
    return lines


def _verification_section(
    plan: Plan, steps: list[Step], verifications: list[Verification]
) -> list[str]:
    if not verifications:
        return []
    lines = [
        "## Verification",
        "",
        f"One more step per configuration, offered {VERIFY_OVER:g} times the rate the sweep "
        "predicts saturates the pool's primaries (so a Redis faster than predicted can show "
        f"it), with as many Locust processes as its measured cost per join needs. Agreement: "
        f"achieved within {VERIFY_TOLERANCE:.0%} of predicted on a server-bound step.",
        "",
        "| configuration | predicted joins/s at saturation | offered | achieved | achieved ÷ "
        "predicted | bottleneck | Redis CPU % busiest (predicted at achieved rate) "
        "| Locust processes (needed) | placement | verdict |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- | --- |",
    ]
    for v in verifications:
        own = [s for s in steps if s.config == v.config]
        one = one_primary_rows(v.config, steps)
        check = next(
            (c for c in checks(own, plan.target_utilization, one) if c.step is v.step), None
        )
        if check is None:
            continue
        s = v.step
        needed = processes_needed(s.offered, [r for r in own if r.phase == "sweep"])
        verdict = check.verdict
        if check.conclusive:
            verdict = f"**{verdict}**"
        elif v.local_primaries and check.primaries + needed > v.cores:
            verdict += (
                f" (saturating {plural(check.primaries, 'primary', 'primaries')} takes "
                f"{plural(check.primaries, 'core', 'cores')} for Redis and {needed} for Locust "
                f"at its measured cost per join: {check.primaries + needed}; this machine let "
                f"the run use {v.cores}, shared by its {v.local_primaries} local Redis "
                f"{'primary' if v.local_primaries == 1 else 'primaries'} and Locust)"
            )
        elif s.load_processes < needed:
            verdict += (
                f" (Locust needed {needed} cores at its measured cost per join; it had "
                f"{s.load_processes})"
            )
        lines.append(
            f"| {v.config.label} | {check.predicted:,.0f} | {s.offered:,.0f} | {s.achieved:,.0f} "
            f"| {check.ratio:.2f} | {bottleneck_of(s)} | {_n(s.busiest_primary_pct)} "
            f"({check.redis_predicted_pct:.0f}) | {s.load_processes} ({needed}) "
            f"| {v.pinning} | {verdict} |"
        )
    lines.append("")
    return lines


def _cost_section(plan: Plan, steps: list[Step]) -> list[str]:
    """Each atomic configuration's cost-against-load curve: the steps by a primary's load,
    and the cost the plan read at the target."""
    u = plan.target_utilization
    lines = [
        "## Cost per join against a primary's load",
        "",
        "Redis CPU per join against a primary's own load (its CPU, % of one core; a sharded "
        "pool's: the mean over the primaries it ran on), every step that measured it, "
        f"lightest load first. The plan reads the cost at {u:.0%} off this curve.",
        "",
        "| configuration | curve (a primary's load %: µs per join) | cost at "
        f"{u:.0%} for the plan |",
        "| --- | --- | --- |",
    ]
    found = False
    for config in plan.configs:
        rows = [s for s in steps if s.config == config]
        curve = costed(rows)
        if config.strategy != "atomic" or not curve:
            continue
        found = True
        prediction = predict(rows, u, one_primary_rows(config, steps))
        points = ", ".join(
            f"{s.primary_load_pct:.0f}: {s.redis_us_per_op:.1f}"
            + (" (verify)" if s.phase == "verify" else "")
            for s in curve
        )
        used = "—"
        if prediction is not None:
            a = prediction.at_target
            how = (
                "interpolated" if a.interpolated
                else f"nearest step, {a.nearest.primary_load_pct:.0f} %"
                + ("" if a.near else ", not near the target")
            )  # fmt: skip
            whose = (
                "" if prediction.borrowed is None
                else f"; from the one-primary curve ({prediction.borrowed.label})"
            )  # fmt: skip
            used = f"{prediction.us_per_op:.1f} µs ({how}{whose})"
        lines.append(f"| {config.label} | {points} | {used} |")
    return [*lines, ""] if found else []


def _processes(plan: Plan) -> str:
    """How the sweep chose its Locust processes, in words."""
    if plan.expect_workers:
        return (
            f"{plan.expect_workers} Locust workers started by the user for each step, the "
            "master here"
        )
    if plan.auto_processes:
        return (
            "as many Locust processes as each step needed (--processes auto: one at each "
            "configuration's first step, which measured Locust's CPU per join; then enough to "
            f"run each at most {GENERATOR_HEADROOM:.0%} of a core at the step's rate, at most "
            "this machine's cores)"
        )
    return plural(plan.processes, "load process", "load processes") + " in the sweep"


def write_report(
    path: Path,
    plan: Plan,
    steps: list[Step],
    verifications: list[Verification],
    command: str,
    interrupted: bool = False,
    replicas: str | None = None,
) -> None:
    """``replicas``: what the server's replication was, in words (for a plan that waits)."""
    lines = ["# Capacity plan", "", f"Command: `{command}`", ""]
    if interrupted:
        lines += [
            f"**Interrupted** after {plural(len(steps), 'finished step', 'finished steps')}: "
            "this plan covers those only.",
            "",
        ]
    lines += _answer(plan, steps)
    ramp = plan.warmup_seconds * RAMP_SHARE
    lines += [
        f"Redis: {redact_url(plan.redis_url)}"
        + (f" ({replicas})" if replicas else "")
        + ". Load: Locust `OpenJoins` (open model: joins "
        "sent on a fixed schedule, latency counted from the intended send time), "
        f"{plan.users} Locust users, {_processes(plan)} (each step's in its row), a fresh "
        "pool per step (deleted "
        f"after it). Each step warmed up for {plan.warmup_seconds:g} s (users started over "
        f"the first {ramp:g} s, connections opened, scripts loaded), then measured for "
        f"{plan.step_seconds:g} s, then ran at least {COOL_DOWN_SECONDS:g} s more before Locust stopped "
        "it: the latencies, the achieved rate and both sides' CPU are the measured window's "
        "only.",
        "",
        "## How each step is classified",
        "",
        BOTTLENECK_RULE
        + " A step **measured nothing** when no join was answered without error in its "
        "window: it is left out of the plan, and the run exits 4.",
        "",
        "![throughput, p99 and Redis CPU against offered load](capacity.png)",
        "",
    ]
    lines += _verification_section(plan, steps, verifications)
    lines += _cost_section(plan, steps)
    for f, rows in all_findings(plan, steps):
        lines += [f"## {f.config.label}", "", *_step_table(plan, rows), ""]
        exact = [s.exact_count for s in rows if s.exact_count is not None]
        if exact:
            lines += [
                f"Locust's count of placed buyers equalled the server's in {sum(exact)} of "
                f"{len(exact)} steps.",
                "",
            ]
        if f.config.strategy != "atomic":
            lines += [f.text, ""]
    lines += _shard_section(plan, steps)
    lines += _assumptions(plan, steps)
    path.write_text("\n".join(lines), encoding="utf-8")


def _assumptions(plan: Plan, steps: list[Step]) -> list[str]:
    costs = [s.generator_us_per_op for s in steps if s.generator_us_per_op > 0]
    generator = (
        f" Here Locust spent {min(costs):,.0f} to {max(costs):,.0f} µs of CPU per join, so one "
        f"Locust process offers at most about {1e6 / min(costs):,.0f} joins/s."
        if costs
        else ""
    )
    return [
        "## Assumptions",
        "",
        f"- One primary is one Redis main thread on one core; it is planned at "
        f"{plan.target_utilization:.0%} of that core (--target-utilization), which leaves "
        "room for bursts, bookings and leaves, and background work.",
        "- A join's cost is Redis CPU (user + system, from INFO) over the step's measured "
        "window, divided by the script calls Redis counted there (one per join). It falls "
        "as a primary's load rises, because a busy Redis reads many calls per event-loop "
        f"turn: below {BUSY:.0%} busy it can be about twice the saturated cost. So the plan "
        f"reads the cost at the target utilisation ({plan.target_utilization:.0%}) off the "
        "cost-against-load curve (interpolated between the steps either side of it), never "
        "a light-load figure where a step nearer the target exists; the report says which "
        "case applies. A primary's load is its own CPU (the mean over the primaries a "
        "sharded pool ran on): its cost depends on that, not on how many primaries there "
        "are, so a sharded pool whose primaries this run could not load that far is planned "
        "from the curve measured on one primary, at the per-primary rate.",
        "- The load generator shares this machine with Redis." + generator + " A step where "
        "Locust, not Redis, ran out of CPU measures the generator: its knee is never used for "
        "the plan.",
        _shared_machine(steps),
        "- One pool lives in one hash slot, so one pool's joins run on one primary; a peak "
        "above one primary needs several pools, or a sharded pool on a cluster (one shard per "
        "primary at least).",
        "- Joins only; bookings and leaves cost about as much as a join each and would add "
        "to the load.",
        "- Latency is from the intended send time (open model), so queueing in the generator "
        "or the server counts; a closed-model run (JoinStorm) shows lower figures at the "
        "same throughput.",
        "",
    ]


SHARED = 20.0
"""Other programs' CPU, % of one core, above which the report calls the machine shared."""


def _shared_machine(steps: list[Step]) -> str:
    others = [s.others_cpu_pct for s in steps if s.others_cpu_pct >= 0]
    if not others:
        return "- Other programs' use of this machine's CPU was not measured."
    top, mean = max(others), sum(others) / len(others)
    if top < SHARED:
        return (
            f"- Nothing else used this machine noticeably during the steps (other programs: "
            f"at most {top:.0f} % of one core)."
        )
    return (
        f"- **This machine was shared**: other programs used up to {top:.0f} % of one core "
        f"(on average {mean:.0f} %) while the steps ran, taking CPU from both sides. The rule "
        "counts the time a side waited for a core as time it wanted; the figures may differ "
        "on a machine of its own."
    )


def _shard_section(plan: Plan, steps: list[Step]) -> list[str]:
    """Throughput against shard count, per lobby size (when more than one count was run)."""
    if len(plan.shards) < 2 or "atomic" not in plan.strategies:
        return []
    lines = [
        "## Throughput against shard count",
        "",
        "| lobbies of | shards | primaries used | knee joins/s (p99 ≤ SLO) | highest achieved "
        "joins/s | bottleneck there | Redis CPU % all primaries there |",
        "| ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for max_users in plan.max_users:
        for shards in plan.shards:
            rows = [s for s in steps if s.config == Config("atomic", max_users, shards)]
            if not rows:
                continue
            best = knee([s for s in rows if s.phase == "sweep"], plan.slo_ms)
            top = max(rows, key=lambda s: s.achieved)
            lines.append(
                f"| {max_users} | {shards} | {top.primaries_used} "
                f"| {f'{best.achieved:,.0f}' if best else 'none'} | {top.achieved:,.0f} "
                f"| {top.bottleneck} | {_n(top.redis_cpu_pct)} |"
            )
    lines += _same_load(plan, steps)
    lines += [
        "",
        "Sharding splits one pool over several hash tags; it raises a pool's ceiling only when "
        "the sub-pools land on different primaries (a Redis Cluster) with CPU to spare. On a "
        "single Redis server every shard shares one core, so expect no gain there.",
        "",
    ]
    return lines


def _same_load(plan: Plan, steps: list[Step]) -> list[str]:
    """Each sharded step's cost per join (summed over its primaries) against the one-primary
    curve's at the same load of a primary: whether a primary's cost depends on its own load
    only. Only loads the one-primary curve spans are compared."""
    lines = [
        "",
        "Redis CPU per join, summed over the primaries, against the one-primary curve's at the "
        "same load of a primary (interpolated between its steps either side of that load; a "
        "load outside the curve is not compared):",
        "",
        "| configuration | step | offered joins/s | a primary's load % | µs per join "
        "| one primary at that load, µs per join | ratio |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    compared = False
    for config in plan.configs:
        one = costed(one_primary_rows(config, steps))
        if not one:
            continue
        for s in costed([r for r in steps if r.config == config]):
            at = cost_at(one, s.primary_load_pct, within=True)
            if at is None:
                reference, ratio = "outside the curve", "—"
            else:
                compared = True
                reference = f"{at.us_per_op:.1f}"
                ratio = f"{s.redis_us_per_op / at.us_per_op:.2f}"
            lines.append(
                f"| {config.label} | {s.phase} | {s.offered:,.0f} | {s.primary_load_pct:.0f} "
                f"| {s.redis_us_per_op:.1f} | {reference} | {ratio} |"
            )
    return lines if compared or len(lines) > 6 else []


SPAN = 1.12
"""A shaded step covers its offered rate divided and multiplied by this (the x axis is log)."""
LATENCY_CAP = 10
"""The latency axis shows at most this many times the SLO."""


def write_plot(path: Path, plan: Plan, steps: list[Step]) -> None:
    """Left: achieved throughput and the busiest primary's CPU against offered load, the
    target utilisation as a labelled line carrying each configuration's plan. Right: p99
    and p99.9 on a linear axis against the SLO. On both, generator-bound steps are shaded
    and named, a step that measured nothing is crossed out, the verify step is a star."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (throughput, latency, costs) = plt.subplots(1, 3, figsize=(20, 5.6))
    cpu = throughput.twinx()
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    plans: list[str] = []
    shaded: set[float] = set()
    for i, (found, rows) in enumerate(all_findings(plan, steps)):
        color = colors[i % len(colors)]
        label = found.config.label
        sweep = sorted((s for s in rows if s.phase == "sweep" and not s.vacuous),
                       key=lambda s: s.offered)  # fmt: skip
        offered = [s.offered for s in sweep]
        throughput.plot(offered, [s.achieved for s in sweep], marker="o", color=color, label=label)
        cpu.plot(
            offered, [s.busiest_primary_pct for s in sweep], linestyle="--", marker="x",
            color=color, alpha=0.6, label=f"Redis CPU, {label}",
        )  # fmt: skip
        latency.plot(offered, [s.p99_us / 1000 for s in sweep], marker="o", color=color,
                     label=f"p99, {label}")  # fmt: skip
        missed = [s for s in sweep if s.slo_miss(plan.slo_ms) is not None]
        if missed:
            latency.plot([s.offered for s in missed], [s.p99_us / 1000 for s in missed], marker="o",
                         markersize=13, markerfacecolor="none", markeredgecolor="red",
                         linestyle="none", label=f"missed the SLO, {label}")  # fmt: skip
        if any(not math.isnan(s.p999_us) for s in sweep):
            latency.plot(offered, [s.p999_us / 1000 for s in sweep], marker="^", linestyle=":",
                         color=color, alpha=0.7, label=f"p99.9, {label}")  # fmt: skip
        for s in rows:
            if s.vacuous:
                for axes, y in ((throughput, 0.0), (latency, 0.0)):
                    axes.plot([s.offered], [y], marker="X", markersize=12, color="black")
                    axes.annotate("measured nothing", (s.offered, y), textcoords="offset points",
                                  xytext=(-6, 8), ha="right", fontsize=8)  # fmt: skip
            elif s.bottleneck is Bottleneck.GENERATOR and s.offered not in shaded:
                shaded.add(s.offered)
                for axes in (throughput, latency):
                    axes.axvspan(s.offered / SPAN, s.offered * SPAN, color="orange", alpha=0.18,
                                 label=None if len(shaded) > 1
                                 else "generator-bound step (measures Locust)")  # fmt: skip
                throughput.annotate(
                    "generator-\nbound", (s.offered, 0), xycoords=("data", "axes fraction"),
                    xytext=(0, 4), textcoords="offset points", ha="center", fontsize=8,
                    color="darkorange",
                )  # fmt: skip
            if s.phase == "verify" and not s.vacuous:
                check = next((c for c in checks(rows, plan.target_utilization) if c.step is s),
                             None)  # fmt: skip
                words = "" if check is None else f" ({check.ratio:.0%} of predicted)"
                throughput.plot([s.offered], [s.achieved], marker="*", markersize=16,
                                color=color, markeredgecolor="black", linestyle="none",
                                label=f"verify, {label}")  # fmt: skip
                throughput.annotate(f"verify: {s.achieved:,.0f}{words}", (s.offered, s.achieved),
                                    textcoords="offset points", xytext=(-8, 10), ha="right",
                                    fontsize=8)  # fmt: skip
                latency.plot([s.offered], [s.p99_us / 1000], marker="*", markersize=16, color=color,
                             markeredgecolor="black", linestyle="none",
                             label=f"verify p99, {label}")  # fmt: skip
        curve = costed(rows)
        if found.config.strategy == "atomic" and curve:
            costs.plot([s.primary_load_pct for s in curve], [s.redis_us_per_op for s in curve],
                       marker="o", color=color, label=label)  # fmt: skip
        r = found.recommendation
        if r is not None:
            costs.plot([plan.target_utilization * 100], [r.prediction.us_per_op], marker="D",
                       markersize=10, color=color, markeredgecolor="black", linestyle="none",
                       label=f"plan's cost, {label}"
                       + (" (one-primary curve)" if r.prediction.borrowed else ""))  # fmt: skip
            plans.append(
                f"{label}: {plural(r.primaries, 'primary', 'primaries')} for "
                f"{plan.peak:,.0f} joins/s ({r.per_primary:,.0f} each)"
            )
    top = max(s.offered for s in steps)
    low = min(s.offered for s in steps)
    # y = x drawn point by point: on a log x axis a two-point segment would bend away from it.
    diagonal = [low * (top / low) ** (i / 50) for i in range(51)]
    throughput.plot(diagonal, diagonal, color="grey", linestyle=":",
                    label="offered = achieved")  # fmt: skip
    throughput.set_xscale("log")
    throughput.set(
        xlabel="offered joins/s (log)",
        ylabel="achieved joins/s",
        title="Throughput, and Redis CPU (dashed, right axis)",
    )
    busiest = [s.busiest_primary_pct for s in steps if not math.isnan(s.busiest_primary_pct)]
    cpu.set_ylabel("Redis CPU, busiest primary (% of a core)")
    cpu.set_ylim(0, max(110.0, *busiest))
    target = plan.target_utilization * 100
    cpu.axhline(target, color="green", linestyle="-.", linewidth=1.2)
    cpu.annotate(
        f"target utilisation {plan.target_utilization:.0%}: "
        + ("; ".join(plans) if plans else "no plan"),
        (0.01, target), xycoords=("axes fraction", "data"), xytext=(0, 4),
        textcoords="offset points", fontsize=8, color="darkgreen", fontweight="bold",
    )  # fmt: skip
    latency.axhline(
        plan.slo_ms, color="red", linestyle="--", label=f"SLO: p99 ≤ {plan.slo_ms:g} ms"
    )
    latency.annotate(f"SLO {plan.slo_ms:g} ms", (0.99, plan.slo_ms), xycoords=("axes fraction", "data"),
                     xytext=(0, 4), textcoords="offset points", ha="right", fontsize=8,
                     color="red")  # fmt: skip
    latency.set_xscale("log")
    # Linear, and readable around the SLO: a tail far above it is clipped at the top edge,
    # an arrow there and its values written under it.
    cap = LATENCY_CAP * plan.slo_ms
    tails = [s for s in steps if max(s.p99_us / 1000, s.p999_us / 1000) > cap]  # NaN compares false
    latency.set_ylim(0, cap if tails else None)
    for s in tails:
        words = "\n".join(
            f"{name} {value:,.0f} ms"
            for name, value in (("p99", s.p99_us / 1000), ("p99.9", s.p999_us / 1000))
            if value > cap
        )
        latency.plot([s.offered], [cap], marker="^", markersize=10, color="red", clip_on=False,
                     linestyle="none")  # fmt: skip
        latency.annotate(words + " (off scale)", (s.offered, cap), textcoords="offset points",
                         xytext=(-8, -8), ha="right", va="top", fontsize=7,
                         color="dimgrey")  # fmt: skip
    latency.set(
        xlabel="offered joins/s (log)",
        ylabel="latency, ms, from the intended send time (linear)",
        title=f"p99 and p99.9 of the measured window (after {plan.warmup_seconds:g} s warm-up)",
    )
    ticks = sorted({s.offered for s in steps})
    for axes in (throughput, latency):
        axes.grid(alpha=0.3)
        axes.set_xticks(ticks, [f"{t:,.0f}" for t in ticks], rotation=30, fontsize=8)
        axes.minorticks_off()
    costs.axvline(plan.target_utilization * 100, color="green", linestyle="-.", linewidth=1.2,
                  label=f"target utilisation {plan.target_utilization:.0%}")  # fmt: skip
    costs.set(
        xlabel="a primary's load, % of one core (mean over a sharded pool's primaries)",
        ylabel="Redis CPU per join, µs",
        title="Cost per join against a primary's load",
    )
    costs.set_xlim(0, 105)
    costs.set_ylim(bottom=0)
    costs.grid(alpha=0.3)
    costs.legend(fontsize=7, loc="upper right")
    handles, labels = throughput.get_legend_handles_labels()
    more, more_labels = cpu.get_legend_handles_labels()
    throughput.legend(handles + more, labels + more_labels, fontsize=7, loc="upper left")
    latency.legend(fontsize=7, loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
