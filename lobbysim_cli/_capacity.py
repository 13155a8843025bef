"""``lobbysim capacity``: sweep offered load, find the knee, say how many primaries a peak needs.

Each step is a real Locust run of the open-model ``OpenJoins`` scenario (in subprocesses:
one Locust process, or a master with ``--processes`` workers), so what is measured is what
a user's own Locust runs measure. Each step gets a fresh pool, deleted afterwards.
"""

from __future__ import annotations

import csv
import math
import shlex
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from redis.cluster import RedisCluster

from lobbycore import connect, redact_url
from lobbycore.audit import delete_pool

LOCUSTFILE = Path(__file__).resolve().parent.parent / "locustfiles" / "lobby.py"


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
class Step:
    strategy: str
    max_users: int
    shards: int
    offered: float
    achieved: float
    bookings_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    requests: int
    errors: int
    audit_ok: bool
    exact_count: bool | None
    """Locust's count of placed buyers equals the server's (None: the naive store keeps none)."""
    redis_cpu_pct: float
    """Summed over the primaries on a cluster (so it can pass 100)."""
    redis_memory_mb: float

    @property
    def config(self) -> Config:
        return Config(self.strategy, self.max_users, self.shards)


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
    if steps == 1:
        return [high]
    ratio = (high / low) ** (1 / (steps - 1))
    return [round(low * ratio**i) for i in range(steps)]


def _number(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return math.nan


def _per_node(client: Any, section: str) -> list[dict[str, Any]]:
    """INFO of every primary: one dict per node (a cluster client asked for all primaries
    answers with a dict per node; a single server with one dict)."""
    if isinstance(client, RedisCluster):
        info = client.info(section, target_nodes=RedisCluster.PRIMARIES)
        values = list(info.values())
        if values and all(isinstance(v, dict) for v in values):
            return values
        return [info]
    return [client.info(section)]


def _redis_cpu_seconds(client: Any) -> float:
    return sum(
        float(node.get("used_cpu_sys", 0)) + float(node.get("used_cpu_user", 0))
        for node in _per_node(client, "cpu")
    )


def _redis_memory_mb(client: Any) -> float:
    return sum(int(node.get("used_memory", 0)) for node in _per_node(client, "memory")) / 1e6


def run_step(plan: Plan, client: Any, config: Config, rate: float) -> Step:
    strategy, max_users = config.strategy, config.max_users
    pool = f"capacity-{uuid.uuid4().hex[:8]}"
    users = max(1, min(plan.users, int(rate)))
    with tempfile.TemporaryDirectory() as tmp:
        prefix = str(Path(tmp) / "step")
        command = [
            sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary",
            "-u", str(users), "-r", str(users), "-t", f"{plan.step_seconds:g}s", "--stop-timeout", "3",
            "--redis-url", plan.redis_url, "--pool", pool, "--strategy", strategy,
            "--max-users", str(max_users), "--arrival-rate", f"{rate / users:.6f}", "--csv", prefix,
        ]  # fmt: skip
        if plan.processes > 1:
            command += ["--processes", str(plan.processes)]
        if config.shards > 1:
            command += ["--shards", str(config.shards)]
        before_cpu, started = _redis_cpu_seconds(client), time.monotonic()
        done = subprocess.run(
            [*command, "OpenJoins"],
            capture_output=True,
            text=True,
            timeout=plan.step_seconds + 180,
            check=False,
        )
        wall = time.monotonic() - started
        cpu = (_redis_cpu_seconds(client) - before_cpu) / wall * 100
        memory = _redis_memory_mb(client)
        try:
            with open(f"{prefix}_stats.csv", newline="") as f:
                row = next((r for r in csv.DictReader(f) if r["Name"] == "join (open)"), None)
        except FileNotFoundError:
            row = None
    delete_pool(client, pool, naive=strategy == "naive", shards=config.shards)
    if row is None:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"the Locust step did not run: {last}")
    audit = next((x for x in done.stdout.splitlines() if x.startswith("lobbysim audit:")), "")
    fields = dict(part.split("=", 1) for part in audit.split()[2:] if "=" in part)
    server_count = fields.get("placed_server", "n/a")
    exact = None if server_count == "n/a" else fields.get("placed_reported") == server_count
    requests = int(row["Request Count"])
    return Step(
        strategy=strategy,
        max_users=max_users,
        shards=config.shards,
        offered=rate,
        achieved=requests / plan.step_seconds,
        bookings_per_s=0.0,  # OpenJoins only joins; bookings are not part of this sweep
        p50_ms=_number(row["50%"]),
        p95_ms=_number(row["95%"]),
        p99_ms=_number(row["99%"]),
        max_ms=_number(row["100%"]),
        requests=requests,
        errors=int(row["Failure Count"]),
        audit_ok=fields.get("ok") == "true",
        exact_count=exact,
        redis_cpu_pct=cpu,
        redis_memory_mb=memory,
    )


def knee(steps: list[Step], slo_ms: float) -> Step | None:
    """The step with the highest achieved rate whose p99 met the objective (and kept up)."""
    good = [
        s for s in steps if s.p99_ms <= slo_ms and s.errors == 0 and s.achieved >= 0.9 * s.offered
    ]
    return max(good, key=lambda s: s.achieved, default=None)


def write_csv(path: Path, steps: list[Step]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(asdict(steps[0])))
        writer.writeheader()
        for step in steps:
            writer.writerow(
                {k: (f"{v:.2f}" if isinstance(v, float) else v) for k, v in asdict(step).items()}
            )


def write_report(path: Path, plan: Plan, steps: list[Step], command: str) -> None:
    lines = [
        "# Capacity report",
        "",
        f"Command: `{command}`",
        "",
        f"Redis: {redact_url(plan.redis_url)}. Load: Locust `OpenJoins` (open model: joins sent on a "
        f"fixed schedule, latency counted from the intended send time), {plan.users} Locust users"
        f"{f' over {plan.processes} processes' if plan.processes > 1 else ''}, "
        f"{plan.step_seconds:g} s per step, a fresh pool per step.",
        "",
    ]
    for config in plan.configs:
        rows = [s for s in steps if s.config == config]
        lines += [
            f"## {config.label}",
            "",
            "| offered joins/s | achieved joins/s | p50 ms | p95 ms | p99 ms | max ms | errors | audit | Redis CPU % | Redis MB |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
        ]
        for s in rows:
            lines.append(
                f"| {s.offered:,.0f} | {s.achieved:,.0f} | {s.p50_ms:g} | {s.p95_ms:g} | {s.p99_ms:g} | "
                f"{s.max_ms:g} | {s.errors} | {'ok' if s.audit_ok else '**FAILED**'} | "
                f"{s.redis_cpu_pct:.0f} | {s.redis_memory_mb:.1f} |"
            )
        best = knee(rows, plan.slo_ms)
        lines.append("")
        if best is None:
            lines.append(
                f"No step met p99 ≤ {plan.slo_ms:g} ms while keeping up with the offered load."
            )
        else:
            primaries = math.ceil(plan.peak / best.achieved)
            # If even the highest offered rate met the objective, the knee lies beyond the sweep.
            unsaturated = best.offered == max(s.offered for s in rows)
            lines += [
                f"**Saturation knee**: {best.achieved:,.0f} joins/s (highest achieved rate with p99 ≤ "
                f"{plan.slo_ms:g} ms; p99 there {best.p99_ms:g} ms)"
                + (
                    ": the sweep never saturated, so the real knee is higher (raise --max-rate)."
                    if unsaturated
                    else "."
                ),
                "",
                f"**Recommendation**: for a peak of {plan.peak:,.0f} joins/s at this lobby size you need "
                f"{'at most ' if unsaturated else ''}"
                f"**{primaries} {'primary' if primaries == 1 else 'primaries'}**.",
            ]
        exact = [s.exact_count for s in rows if s.exact_count is not None]
        if exact:
            lines += [
                "",
                f"Locust's count of placed buyers equalled the server's in {sum(exact)} of "
                f"{len(exact)} steps.",
            ]
        lines.append("")
    lines += _shard_section(plan, steps)
    lines += [
        "## Assumptions",
        "",
        "- One pool lives in one hash slot, so the knee is what one Redis primary holds for one pool; "
        "the recommendation assumes the peak is split over that many pools (or sub-pools), one per primary, "
        "and that primaries do not share CPU.",
        "- The load generator ran on the same machine as Redis here; a knee can come from the generator "
        "running out of CPU rather than Redis (compare the Redis CPU column: near 100 % means Redis is the limit).",
        "- Joins only; bookings and leaves cost about as much as a join each and would add to the load.",
        "- Latency is from the intended send time (open model), so queueing in the generator or the "
        "server counts; a closed-model run (JoinStorm) shows lower figures at the same throughput.",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")


def _shard_section(plan: Plan, steps: list[Step]) -> list[str]:
    """Throughput against shard count, per lobby size (when more than one count was run)."""
    if len(plan.shards) < 2 or "atomic" not in plan.strategies:
        return []
    lines = [
        "## Throughput against shard count",
        "",
        "| lobbies of | shards | knee joins/s (p99 ≤ SLO) | highest achieved joins/s | p99 ms there | Redis CPU % there |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for max_users in plan.max_users:
        for shards in plan.shards:
            rows = [s for s in steps if s.config == Config("atomic", max_users, shards)]
            best = knee(rows, plan.slo_ms)
            top = max(rows, key=lambda s: s.achieved)
            lines.append(
                f"| {max_users} | {shards} | {f'{best.achieved:,.0f}' if best else 'none'} | "
                f"{top.achieved:,.0f} | {top.p99_ms:g} | {top.redis_cpu_pct:.0f} |"
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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (throughput, latency) = plt.subplots(1, 2, figsize=(11, 4.2))
    for config in plan.configs:
        rows = [s for s in steps if s.config == config]
        label = config.label
        throughput.plot(
            [s.offered for s in rows], [s.achieved for s in rows], marker="o", label=label
        )
        latency.plot([s.offered for s in rows], [s.p99_ms for s in rows], marker="o", label=label)
    top = max(s.offered for s in steps)
    throughput.plot([0, top], [0, top], color="grey", linestyle=":", label="offered = achieved")
    throughput.set(xlabel="offered joins/s", ylabel="achieved joins/s", title="Throughput")
    latency.axhline(plan.slo_ms, color="red", linestyle="--", label=f"SLO {plan.slo_ms:g} ms")
    latency.set(
        xlabel="offered joins/s",
        ylabel="p99 latency (ms, from intended send)",
        title="p99 latency",
        yscale="log",
    )
    for axes in (throughput, latency):
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def run_capacity(plan: Plan, command: str) -> tuple[list[Step], Path]:
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    client = connect(plan.redis_url)
    client.ping()
    plan.out.mkdir(parents=True, exist_ok=True)
    steps: list[Step] = []
    total = len(plan.configs) * len(plan.rates)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task("capacity", total=total)
        for config in plan.configs:
            for rate in plan.rates:
                progress.update(task, description=f"{config.label}, {rate:,.0f} joins/s")
                steps.append(run_step(plan, client, config, rate))
                progress.advance(task)
    write_csv(plan.out / "capacity.csv", steps)
    write_report(plan.out / "report.md", plan, steps, command)
    write_plot(plan.out / "capacity.png", plan, steps)
    return steps, plan.out


def command_line(argv: list[str]) -> str:
    return "lobbysim " + " ".join(shlex.quote(redact_url(a) if "://" in a else a) for a in argv)
