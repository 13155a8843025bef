"""What a capacity sweep writes: capacity.csv (a row as each step finishes), report.md (the
plan: answer first, then each step with its bottleneck, then the assumptions) and
capacity.png."""

from __future__ import annotations

import csv
import math
import shlex
from dataclasses import asdict, fields
from pathlib import Path
from typing import IO, Any

from lobbycore import redact_args, redact_url

from .model import (
    BOTTLENECK_RULE,
    BUSY,
    Bottleneck,
    Recommendation,
    Step,
    knee,
    recommend,
)
from .plan import Config, Plan
from .run import VERIFY_OVER, Verification

VERIFY_TOLERANCE = 0.15
"""A verification agrees with its prediction within this share."""

CSV_COLUMNS = [
    *(f.name for f in fields(Step)),
    "bottleneck",
    "primary_joins_per_s_at_target",
]
"""Every measured field, then what is derived from it: the bottleneck and the joins/s one
primary sustains at the target utilisation if a join costs Redis what it cost at this step."""


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.2f}"
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
            "bottleneck": str(step.bottleneck),
            "primary_joins_per_s_at_target": step.primary_rate(self.plan.target_utilization),
        }
        self._writer.writerow({key: _cell(value) for key, value in row.items()})
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def command_line(argv: list[str]) -> str:
    """The command as typed, for the report (every password redacted, whatever its form)."""
    return "lobbysim " + " ".join(shlex.quote(a) for a in redact_args(argv))


def _n(value: float, digits: int = 0) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.{digits}f}"


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _answer(plan: Plan, steps: list[Step], verifications: list[Verification]) -> list[str]:
    lines: list[str] = []
    measured = [s for s in steps if s.strategy == "atomic"]
    if measured and not any(s.bottleneck is Bottleneck.SERVER for s in measured):
        busiest = max((s.busiest_primary_pct for s in measured if s.busiest_primary_pct >= 0),
                      default=math.nan)  # fmt: skip
        generator = sum(1 for s in measured if s.bottleneck is Bottleneck.GENERATOR)
        neither = len(measured) - generator
        lines += [
            f"**No step was server-bound**: Redis never ran out of CPU (its busiest primary "
            f"used at most {_n(busiest)} % of a core); of {_plural(len(measured), 'step', 'steps')}"
            f", {generator} {'was' if generator == 1 else 'were'} generator-bound and "
            f"{neither} neither. The primaries below are a **prediction** from Redis's own CPU "
            "cost per join, not a measured limit; its basis is given with each figure.",
            "",
        ]
    for config in [c for c in plan.configs if c.strategy == "atomic"]:
        rows = [s for s in steps if s.config == config]
        if not rows:
            continue
        plan_for = recommend(rows, plan.slo_ms, plan.target_utilization, plan.peak)
        if plan_for is None:
            lines += [f"- **{config.label}**: no join was counted on the server; no plan.", ""]
            continue
        lines += [_config_answer(plan, config, plan_for, verifications), ""]
    if not lines:
        lines = ["No step of the atomic store finished: no plan.", ""]
    return lines


def _config_answer(
    plan: Plan, config: Config, r: Recommendation, verifications: list[Verification]
) -> str:
    p = r.prediction
    basis = p.basis
    where = (
        f"measured at {basis.achieved:,.0f} joins/s ({basis.phase} step), where Redis was "
        f"{basis.busiest_primary_pct:.0f} % busy"
    )
    own = [v for v in verifications if v.config == config]
    quality = (
        "busy enough to measure it well"
        if p.busy
        else f"below {BUSY:.0%}: at light load joins arrive a few at a time and each pays its "
        "own I/O, so this cost is overstated and the count errs high"
        + ("" if own else "; --verify takes Redis further where the machine allows")
    )
    text = (
        f"- **{config.label}**: for a peak of {plan.peak:,.0f} joins/s you need "
        f"**{_plural(r.primaries, 'primary', 'primaries')}**, each planned at "
        f"{r.per_primary:,.0f} joins/s ({plan.target_utilization:.0%} of one core). "
        f"Basis: {r.source}; cost {where} ({quality}); one primary saturates at "
        f"{p.saturation:,.0f} joins/s."
    )
    text += " " + _knee_sentence(plan, r)
    if config.shards > 1:
        text += (
            f" A pool of {config.shards} shards spreads over at most {config.shards} primaries, "
            f"so it carries at most {config.shards * r.per_primary:,.0f} joins/s at this "
            f"utilisation; the peak needs at least {r.primaries} shards on "
            f"{_plural(r.primaries, 'primary', 'primaries')}."
        )
    elif r.primaries > 1:
        text += (
            f" One pool lives on one primary: spread the peak over {r.primaries} pools, or "
            f"shard the pool (--shards ≥ {r.primaries}) on a cluster."
        )
    if own:
        v = own[0]
        text += (
            f" Verification: predicted {v.predicted:,.0f} joins/s at saturation, achieved "
            f"{v.step.achieved:,.0f} ({v.ratio:.0%} of predicted, {v.step.bottleneck}"
            + (
                "): it confirms the prediction only when server-bound; Redis's CPU there, "
                f"{v.step.busiest_primary_pct:.0f} % against {v.redis_predicted_pct:.0f} % "
                "predicted at that rate, checks the cost per join."
                if v.step.bottleneck is not Bottleneck.SERVER
                else ")."
            )
        )
    return text


def _knee_sentence(plan: Plan, r: Recommendation) -> str:
    slo = f"p99 ≤ {plan.slo_ms:g} ms"
    if r.knee is None:
        return f"No sweep step met {slo} while keeping up."
    at = f"{r.knee.achieved:,.0f} joins/s with Redis {r.knee.busiest_primary_pct:.0f} % busy"
    if r.knee_limited_by is None:
        return f"The SLO ({slo}) held at every sweep step, up to {at}."
    if r.knee_limited_by is Bottleneck.SERVER:
        used = "used" if r.knee_used else "not the lower figure"
        return f"The sweep's knee at {slo} ({at}) was server-bound: {used}."
    return (
        f"The sweep's knee at {slo} ({at}) was {r.knee_limited_by}: it says how far this "
        "generator goes, not the server, and is not used."
    )


def _step_table(plan: Plan, rows: list[Step]) -> list[str]:
    u = plan.target_utilization
    lines = [
        "| step | offered joins/s | achieved joins/s | p50 ms | p99 ms | errors | audit "
        "| Redis CPU % (busiest primary) | Redis µs/join | Locust CPU % (of cores) "
        "| Locust µs/join | machine CPU % (other programs, % of a core) | bottleneck "
        f"| one primary at {u:.0%}, joins/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for s in rows:
        generator = f"{_n(s.generator_cpu_pct)} ({s.generator_cores})"
        if s.generator_demand_pct - s.generator_cpu_pct >= 10:
            generator += f", {_n(s.generator_demand_pct)} with wait"
        redis = _n(s.busiest_primary_pct)
        if s.busiest_primary_demand_pct - s.busiest_primary_pct >= 10:
            redis += f", {_n(s.busiest_primary_demand_pct)} with wait"
        bottleneck = str(s.bottleneck)
        if s.bottleneck is Bottleneck.NEITHER and not s.keeps_up and s.machine_cpu_pct >= 90:
            bottleneck += f" (fell behind; machine {s.machine_cpu_pct:.0f} % busy)"
        lines.append(
            f"| {s.phase} | {s.offered:,.0f} | {s.achieved:,.0f} | {s.p50_ms:g} | {s.p99_ms:g} "
            f"| {s.errors} | {'ok' if s.audit_ok else '**FAILED**'} | {redis} "
            f"| {_n(s.redis_us_per_op, 1)} | {generator} | {_n(s.generator_us_per_op, 1)} "
            f"| {_n(s.machine_cpu_pct)} ({_n(s.others_cpu_pct)}) | {bottleneck} "
            f"| {_n(s.primary_rate(u))} |"
        )
    return lines


def _verification_section(verifications: list[Verification]) -> list[str]:
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
        s = v.step
        if s.bottleneck is not Bottleneck.SERVER:
            verdict = f"inconclusive: {s.bottleneck}, Redis did not saturate"
            if v.placement.processes < v.processes_needed:
                verdict += (
                    f" (Locust needed {v.processes_needed} cores at its measured cost per "
                    f"join; it had {v.placement.processes})"
                )
        elif abs(v.ratio - 1) <= VERIFY_TOLERANCE:
            verdict = f"**agrees** (within {VERIFY_TOLERANCE:.0%})"
        else:
            verdict = f"**off by {v.ratio - 1:+.0%}**"
        lines.append(
            f"| {v.config.label} | {v.predicted:,.0f} | {s.offered:,.0f} | {s.achieved:,.0f} "
            f"| {v.ratio:.2f} | {s.bottleneck} | {_n(s.busiest_primary_pct)} "
            f"({v.redis_predicted_pct:.0f}) | {v.placement.processes} ({v.processes_needed}) "
            f"| {v.pinning} | {verdict} |"
        )
    lines.append("")
    return lines


def write_report(
    path: Path,
    plan: Plan,
    steps: list[Step],
    verifications: list[Verification],
    command: str,
    interrupted: bool = False,
) -> None:
    lines = ["# Capacity plan", "", f"Command: `{command}`", ""]
    if interrupted:
        lines += [
            f"**Interrupted** after {_plural(len(steps), 'finished step', 'finished steps')}: "
            "this plan covers those only.",
            "",
        ]
    lines += _answer(plan, steps, verifications)
    lines += [
        f"Redis: {redact_url(plan.redis_url)}. Load: Locust `OpenJoins` (open model: joins "
        "sent on a fixed schedule, latency counted from the intended send time), "
        f"{plan.users} Locust users, {plan.processes} load process"
        f"{'es' if plan.processes > 1 else ''} in the sweep, {plan.step_seconds:g} s per step, "
        "a fresh pool per step (deleted after it).",
        "",
        "## How each step is classified",
        "",
        BOTTLENECK_RULE,
        "",
        "![throughput, p99 and Redis CPU against offered load](capacity.png)",
        "",
    ]
    lines += _verification_section(verifications)
    for config in plan.configs:
        rows = [s for s in steps if s.config == config]
        if not rows:
            continue
        lines += [f"## {config.label}", "", *_step_table(plan, rows), ""]
        exact = [s.exact_count for s in rows if s.exact_count is not None]
        if exact:
            lines += [
                f"Locust's count of placed buyers equalled the server's in {sum(exact)} of "
                f"{len(exact)} steps.",
                "",
            ]
        if config.strategy == "naive":
            lines += [
                "The naive store breaks the guarantees (see its audit column), so it is not "
                "sized; its rows show what the article's algorithm costs.",
                "",
            ]
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
        "- A join's cost is Redis CPU (user + system, from INFO) over the part of the step "
        "when joins arrived, divided by the script calls Redis counted there (one per join). "
        "It is taken from the step where Redis was busiest: the cost falls as load rises, "
        f"because busy Redis serves many clients per event-loop turn. Below {BUSY:.0%} busy it "
        "can be about twice the saturated cost, so a prediction from there errs towards too "
        "many primaries; the report says which case applies.",
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
    lines += [
        "",
        "Sharding splits one pool over several hash tags; it raises a pool's ceiling only when "
        "the sub-pools land on different primaries (a Redis Cluster) with CPU to spare. On a "
        "single Redis server every shard shares one core, so expect no gain there.",
        "",
    ]
    return lines


def write_plot(path: Path, plan: Plan, steps: list[Step]) -> None:
    """Throughput (with Redis CPU on a second axis) and p99 against offered load."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (throughput, latency) = plt.subplots(1, 2, figsize=(12, 4.6))
    cpu = throughput.twinx()
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, config in enumerate(c for c in plan.configs if any(s.config == c for s in steps)):
        color = colors[i % len(colors)]
        rows = sorted((s for s in steps if s.config == config), key=lambda s: s.offered)
        offered = [s.offered for s in rows]
        throughput.plot(
            offered, [s.achieved for s in rows], marker="o", color=color, label=config.label
        )
        cpu.plot(
            offered, [s.busiest_primary_pct for s in rows], linestyle="--", marker="x",
            color=color, alpha=0.7, label=f"Redis CPU, {config.label}",
        )  # fmt: skip
        latency.plot(offered, [s.p99_ms for s in rows], marker="o", color=color, label=config.label)
        for s in rows:
            if s.bottleneck is not Bottleneck.NEITHER:
                throughput.annotate(
                    "S" if s.bottleneck is Bottleneck.SERVER else "G", (s.offered, s.achieved),
                    textcoords="offset points", xytext=(4, -10), fontsize=8, color=color,
                )  # fmt: skip
    top = max(s.offered for s in steps)
    throughput.plot([0, top], [0, top], color="grey", linestyle=":", label="offered = achieved")
    throughput.set(
        xlabel="offered joins/s",
        ylabel="achieved joins/s",
        title="Throughput (S: server-bound, G: generator-bound)",
    )
    cpu.set_ylabel("Redis CPU, busiest primary (% of a core, dashed)")
    cpu.set_ylim(
        0, max(110.0, *(s.busiest_primary_pct for s in steps if s.busiest_primary_pct >= 0))
    )
    cpu.axhline(plan.target_utilization * 100, color="grey", linestyle="-.", linewidth=0.8)
    latency.axhline(plan.slo_ms, color="red", linestyle="--", label=f"SLO {plan.slo_ms:g} ms")
    latency.set(
        xlabel="offered joins/s",
        ylabel="p99 latency (ms, from intended send)",
        title="p99 latency",
        yscale="log",
    )
    for axes in (throughput, latency):
        axes.grid(alpha=0.3)
        axes.legend(fontsize=7, loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
