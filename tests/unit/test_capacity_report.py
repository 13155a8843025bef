"""`lobbysim capacity`'s report says what its table shows: rows planted for the purpose (an
SLO miss at the first step, a generator-bound knee, a failed audit, a step that measured
nothing, verify steps), the words of its answer and summary line checked against them."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from pathlib import Path

import pytest

from lobbysim.cli.capacity.findings import Criteria, findings
from lobbysim.cli.capacity.model import Step
from lobbysim.cli.capacity.plan import Config, Plan
from lobbysim.cli.capacity.report import write_plot, write_report

SLO_MS = 10.0
CRITERIA = Criteria(slo_ms=SLO_MS, target_utilization=0.7, peak=50_000.0)
CONFIG = Config("atomic", 4, 1)


def step(
    offered: float, p99: float, *, redis_pct: float = 20, generator_pct: float = 20,
    us: float = 60.0, achieved: float | None = None, phase: str = "sweep", audit_ok: bool = True,
    requests: int | None = None, errors: int = 0, p999: float | None = None,
) -> Step:  # fmt: skip
    achieved = offered if achieved is None else achieved
    return Step(
        strategy="atomic", max_users=4, shards=1, phase=phase, offered=offered,
        achieved=achieved, p50_us=1000.0, p95_us=p99 * 500, p99_us=p99 * 1000, max_us=p99 * 3000,
        requests=int(achieved * 3) if requests is None else requests, errors=errors,
        audit_ok=audit_ok, exact_count=True, window_s=3.0, redis_cpu_pct=redis_pct,
        busiest_primary_pct=redis_pct, busiest_primary_demand_pct=redis_pct, primaries_used=1,
        redis_ops=int(achieved * 3), redis_us_per_op=us, load_processes=1, generator_cores=1,
        pinned=False, generator_cpu_pct=generator_pct, generator_demand_pct=generator_pct,
        generator_us_per_op=100.0, machine_cpu_pct=50.0, others_cpu_pct=5.0,
        redis_memory_mb=5.0, p999_us=(p99 * 2 if p999 is None else p999) * 1000, measured_s=3.0,
        warmup_s=1.0,
    )  # fmt: skip


def nothing(offered: float, *, phase: str = "sweep", made: int = 0) -> Step:
    """A step that answered no join in its window (``made`` of them failed)."""
    nan = float("nan")
    return replace(
        step(offered, nan, phase=phase, audit_ok=False, requests=made, errors=made),
        achieved=0.0, p50_us=nan, p95_us=nan, p999_us=nan, max_us=nan, redis_us_per_op=nan,
        busiest_primary_pct=nan, busiest_primary_demand_pct=nan, redis_cpu_pct=nan,
    )  # fmt: skip


def plan(out: Path) -> Plan:
    return Plan(
        redis_url="redis://127.0.0.1:1/0", out=out, max_users=[4], strategies=["atomic"],
        shards=[1], rates=[500.0, 1414.0, 4000.0], step_seconds=3.0, warmup_seconds=1.0,
        users=20, processes=1, slo_ms=SLO_MS, peak=50_000.0, target_utilization=0.7,
        verify=False,
    )  # fmt: skip


def report(tmp_path: Path, rows: list[Step]) -> str:
    write_report(tmp_path / "report.md", plan(tmp_path), rows, [], "lobbysim capacity")
    return (tmp_path / "report.md").read_text()


def table_rows(text: str) -> dict[tuple[str, str], list[str]]:
    """The step table's cells by (phase, offered), as the report shows them."""
    found = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells and cells[0] in ("sweep", "verify"):
            found[(cells[0], cells[1])] = cells
    return found


SLO_COLUMN = 6


def test_an_slo_miss_at_the_first_step_is_said_where_the_table_shows_it(tmp_path: Path) -> None:
    # The case that was reported as "held at every sweep step" above a table showing p99
    # 36 ms at the first step: the knee (the last step) is the highest rate that met it.
    rows = [step(500, 36.0), step(1414, 3.0), step(4000, 7.0)]
    found = findings(CONFIG, rows, CRITERIA)
    text = found.text
    assert "held at every sweep step" not in text
    assert "The SLO (p99 ≤ 10 ms) was missed at 1 of 3 sweep steps: 500 joins/s offered " in text
    assert "(p99 36 ms)" in text
    assert found.summary["slo"] == "missed@500" and "slo_missed" in found.summary["caveats"]
    assert "It is the sweep's last step that measured something" in text  # the knee's
    written = report(tmp_path, rows)
    assert text in written
    table = table_rows(written)
    assert table[("sweep", "500")][SLO_COLUMN] == "**missed**: p99 36 ms"
    assert table[("sweep", "1,414")][SLO_COLUMN] == "met"


def test_the_slo_sentence_lists_exactly_the_rows_the_table_marks_missed(tmp_path: Path) -> None:
    rows = [
        step(500, 12.0),  # p99 above the SLO
        step(1000, 4.0),
        step(2000, 5.0, errors=3),  # failed joins
        step(4000, 6.0, achieved=3000),  # fell behind
        step(8000, 9.0),
    ]
    text = findings(CONFIG, rows, CRITERIA).text
    table = table_rows(report(tmp_path, rows))
    marked = {offered for (_, offered), cells in table.items() if cells[SLO_COLUMN] != "met"}
    sentence = re.search(
        r"The SLO \(p99 ≤ 10 ms\) was missed at 3 of 5 sweep steps: (.*?)\. ", text
    )
    assert sentence is not None, text
    said = set(re.findall(r"([\d,]+) joins/s offered", sentence.group(1)))
    assert said == marked == {"500", "2,000", "4,000"}
    assert "2,000 joins/s offered (3 failed joins)" in sentence.group(1)
    assert "4,000 joins/s offered (fell behind (3,000 of 4,000 joins/s))" in sentence.group(1)


def test_a_sweep_that_met_the_slo_everywhere_says_so_with_its_range() -> None:
    rows = [step(500, 2.0), step(1414, 3.0), step(4000, 4.0)]
    found = findings(CONFIG, rows, CRITERIA)
    assert "The SLO (p99 ≤ 10 ms) held at every sweep step (500 to 4,000 joins/s offered)." in (
        found.text
    )
    assert found.summary["slo"] == "held" and "slo_missed" not in found.summary["caveats"]


GENERATOR_BOUND = [
    step(1000, 2.0, redis_pct=8, us=80.0, generator_pct=20),
    # The knee at the SLO: the generator was already at its limit there...
    step(5000, 4.0, redis_pct=25, us=50.0, generator_pct=90),
    # ...and the next step fell behind because of it, Redis at 30 %.
    step(10000, 900.0, redis_pct=30, us=50.0, generator_pct=99, achieved=6000),
]


def test_a_generator_bound_knee_is_named_and_not_used(tmp_path: Path) -> None:
    found = findings(CONFIG, GENERATOR_BOUND, CRITERIA)
    text = found.text
    assert "**Generator-bound** (they measure this Locust, not Redis): 5,000 and 10,000 " in text
    assert "The knee, the highest sweep rate that met the SLO: 5,000 joins/s achieved" in text
    assert "was generator-bound: the knee says how far this generator goes, not the server, " in (
        text
    )
    assert "**No step was server-bound**" in text
    assert found.recommendation is not None and not found.recommendation.knee_used
    assert "**4 primaries**" in text  # from Redis's cost: 0.7 / 50 µs = 14,000 per primary
    assert found.summary["primaries"] == "4"
    assert found.summary["basis"] == "redis_cost_per_join"
    assert found.summary["basis_step"] == "sweep@10000"
    assert found.summary["generator_bound"] == "5000,10000"
    caveats = found.summary["caveats"].split(",")
    assert {"generator_bound_steps", "generator_bound_knee", "light_load"} <= set(caveats)
    table = table_rows(report(tmp_path, GENERATOR_BOUND))
    assert table[("sweep", "5,000")][-2] == "generator-bound"


def test_a_failed_audit_and_a_step_that_measured_nothing_are_said(tmp_path: Path) -> None:
    rows = [
        step(1000, 2.0),
        step(2000, 3.0, audit_ok=False),  # a guarantee broke
        step(4000, 4.0),
        nothing(8000, made=40),  # every join failed
        nothing(16000),  # no join made
    ]
    found = findings(CONFIG, rows, CRITERIA)
    text = found.text
    assert text.startswith(
        "**2 steps measured nothing** (no join answered in its measured window; its audit "
        "checked nothing): 8,000 and 16,000 joins/s offered; left out of the plan and the knee."
    )
    assert "**The audit failed** at 2,000 joins/s offered: a guarantee broke there" in text
    assert "passed its audit" not in text
    assert "8,000 joins/s offered (no join was answered)" in text
    assert "16,000 joins/s offered (no join was made)" in text
    assert (
        "Bottleneck by step: 1,000 neither, 2,000 neither, 4,000 neither, 8,000 measured " in text
    )
    assert found.summary["audit"] == "failed@2000"
    assert found.summary["measured_nothing"] == "8000,16000"
    assert {"audit_failed", "measured_nothing"} <= set(found.summary["caveats"].split(","))
    # The knee is the last step that measured something: nothing above it counts.
    assert "The knee, the highest sweep rate that met the SLO: 4,000 joins/s" in text
    table = table_rows(report(tmp_path, rows))
    assert table[("sweep", "2,000")][8] == "**FAILED**"
    for offered in ("8,000", "16,000"):
        cells = table[("sweep", offered)]
        assert cells[8] == "checked nothing" and cells[-2] == "**measured nothing**"
        assert cells[3:6] == ["—", "—", "—"]


def test_a_configuration_that_measured_nothing_at_all_has_no_plan() -> None:
    found = findings(CONFIG, [nothing(500), nothing(1000)], CRITERIA)
    assert found.recommendation is None
    assert "no plan" in found.text and "primaries**" not in found.text
    assert found.summary["primaries"] == "none"
    assert found.summary["caveats"] == "measured_nothing"


SERVER_SWEEP = [
    step(2000, 2.0, redis_pct=20, us=80.0),
    step(8000, 5.0, redis_pct=70, us=62.5),
    step(16000, 300.0, redis_pct=97, us=62.5, achieved=15000),
]
"""Predicted saturation: 1e6 / 62.5 = 16,000 joins/s on one primary."""


@pytest.mark.parametrize(
    ("verify_row", "words", "key"),
    [
        (step(19200, 80.0, redis_pct=96, achieved=16400, phase="verify"), "**agrees (within 15%)**",
         "agrees"),
        (step(19200, 80.0, redis_pct=96, achieved=12000, phase="verify"), "**off by -25%**",
         "off_by_-25%"),
        (step(19200, 80.0, redis_pct=60, generator_pct=99, achieved=9000, phase="verify"),
         "**inconclusive: generator-bound, Redis did not saturate**", "inconclusive"),
        (nothing(19200, phase="verify"), "Verification: **checked nothing: no join was answered**",
         "checked_nothing"),
        # Server-bound by its wait for a core only: the machine's cores were taken.
        (replace(step(19200, 80.0, redis_pct=53, achieved=3000, phase="verify"),
                 busiest_primary_demand_pct=97.0),
         "**inconclusive: Redis waited for a core (its busiest primary on one 53 % of the step, "
         "97 % with its wait; this machine 50 % busy", "inconclusive_waited_for_a_core"),
    ],
)  # fmt: skip
def test_the_verification_verdict_is_the_verify_rows(
    verify_row: Step, words: str, key: str
) -> None:
    found = findings(CONFIG, [*SERVER_SWEEP, verify_row], CRITERIA)
    assert words in found.text
    assert found.summary["verify"] == key
    if key != "agrees":
        assert any(c.startswith("verify_") for c in found.summary["caveats"].split(","))
    if not verify_row.vacuous:
        assert f"achieved {verify_row.achieved:,.0f} (" in found.text


def test_the_plan_says_its_basis_and_its_wait(tmp_path: Path) -> None:
    rows = [replace(s, wait_replicas=1) for s in SERVER_SWEEP]
    found = findings(Config("atomic", 4, 1, 1), rows, replace(CRITERIA, wait_timeout=0.5))
    text = found.text
    assert ", with WAIT 1 per write, each planned at" in text
    assert "Every join waited for 1 replica to acknowledge it (WAIT 1, at most 0.5 s" in text
    assert found.summary["wait_replicas"] == "1"
    # Basis: the server-bound knee (8,000 joins/s, below the 11,200 Redis's cost allows).
    assert found.summary["basis"] == "server_bound_knee"
    assert found.summary["basis_step"] == "sweep@8000"
    assert "Basis: the server-bound knee at the SLO, 8,000 joins/s per primary" in text
    assert "**7 primaries**" in text


def test_the_chart_is_drawn_from_planted_rows(tmp_path: Path) -> None:
    rows = [*GENERATOR_BOUND, nothing(20000), step(12000, 30.0, phase="verify", redis_pct=90)]
    write_plot(tmp_path / "capacity.png", plan(tmp_path), rows)
    assert (tmp_path / "capacity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_failed_audit_sets_the_exit_status_over_an_interrupt_and_a_step_that_measured_nothing(
) -> None:  # fmt: skip
    from lobbysim.cli.capacity import exit_status

    broken = step(2000, 3.0, audit_ok=False)  # the audit never passed on a measured step
    counted = replace(nothing(4000, made=40), violations=3)  # answered nothing, yet broke one
    assert broken.audit_failed and counted.audit_failed
    assert not nothing(8000, made=40).audit_failed  # checked nothing: exit 4's, not a failure
    assert exit_status([step(1000, 2.0)], interrupted=False) == 0
    assert exit_status([step(1000, 2.0), nothing(8000)], interrupted=False) == 4
    assert exit_status([nothing(8000)], interrupted=True) == 130
    for rows in ([step(1000, 2.0), broken], [counted], [broken, nothing(8000)]):
        assert exit_status(rows, interrupted=False) == 1
        assert exit_status(rows, interrupted=True) == 1


def test_every_configuration_s_summary_says_where_its_audit_failed() -> None:
    naive = Config("naive", 4, 1)
    rows = [replace(step(500, 40.0, audit_ok=False), strategy="naive"),
            replace(step(1000, 40.0), strategy="naive")]  # fmt: skip
    assert findings(naive, rows, CRITERIA).summary == {
        "strategy": "naive", "max_users": "4", "shards": "1", "primaries": "none",
        "audit": "failed@500", "caveats": "not_sized",
    }  # fmt: skip
    # No plan (no step counted a script call), a failed audit: the line still says so.
    unplanned = [step(500, 4.0, us=math.nan, audit_ok=False), nothing(1000)]
    summary = findings(CONFIG, unplanned, CRITERIA).summary
    assert summary["primaries"] == "none" and summary["audit"] == "failed@500"
    assert summary["caveats"] == "measured_nothing,audit_failed"


def test_the_slo_is_judged_on_the_us_figures(tmp_path: Path) -> None:
    # Locust's rounding keeps whole ms below 100 ms: 10.4 ms and 9.6 ms both read "10".
    over = replace(step(1000, 10.0), p99_us=10_412.0)
    under = replace(step(2000, 10.0), p99_us=9_600.0)
    at = replace(step(4000, 10.0), p99_us=10_000.0)
    assert over.slo_miss(SLO_MS) == "p99 10.412 ms"
    assert under.meets(SLO_MS) and at.meets(SLO_MS)
    found = findings(CONFIG, [over, under, at], CRITERIA)
    assert found.summary["slo"] == "missed@1000"
    table = table_rows(report(tmp_path, [over, under, at]))
    assert table[("sweep", "1,000")][3:6] == ["1", "10.412", "20"]
    assert table[("sweep", "1,000")][SLO_COLUMN] == "**missed**: p99 10.412 ms"
    assert table[("sweep", "2,000")][4] == "9.6" and table[("sweep", "2,000")][SLO_COLUMN] == "met"


CURVE = [
    step(2000, 2.0, redis_pct=20, us=100.0),
    step(6000, 4.0, redis_pct=60, us=80.0),
    step(10000, 15.0, redis_pct=80, us=60.0),
    step(14000, 300.0, redis_pct=97, us=50.0, achieved=13000),
]
"""One primary's cost against its load: 70 µs at 70 % (between 60 % and 80 %); the busiest
step's 50 µs is not the cost at the target."""


def sharded(offered: float, us: float) -> Step:
    """A step of a 3-shard pool on 3 primaries, each loaded us x offered / 3e4 % of a core
    (step()'s rows: redis_ops = 3 x achieved over 3 s)."""
    load = us * offered / 3e4
    return replace(
        step(offered, 2.0, us=us, redis_pct=load * 3), shards=3, primaries_used=3,
        busiest_primary_pct=load, busiest_primary_demand_pct=load,
    )  # fmt: skip


def test_the_plan_reads_the_cost_at_the_target_off_the_curve(tmp_path: Path) -> None:
    found = findings(CONFIG, CURVE, CRITERIA)
    r = found.recommendation
    assert r is not None and r.prediction.us_per_op == pytest.approx(70.0)
    assert r.per_primary == pytest.approx(10_000)
    assert found.summary["us_per_join"] == "70.0" and found.summary["cost_curve"] == "own"
    assert "Redis's own cost, 70.0 µs of CPU per join at 70% of one core, interpolated on " in (
        found.text
    )
    assert "between the sweep step offered 6,000 joins/s (achieved 6,000, a primary 60 % busy" in (
        found.text
    )
    caveats = found.summary["caveats"].split(",")
    assert "light_load" not in caveats and "cost_not_at_target" not in caveats
    text = report(tmp_path, CURVE)
    assert "| atomic, lobbies of 4 | 20: 100.0, 60: 80.0, 80: 60.0, 97: 50.0 | 70.0 µs " in text
    # A curve that stops short of the target: its nearest step, said to err high.
    short = findings(CONFIG, [CURVE[0], step(5000, 4.0, redis_pct=50, us=90.0)], CRITERIA)
    assert short.summary["us_per_join"] == "90.0"
    assert "cost_not_at_target" in short.summary["caveats"].split(",")
    assert "no step ran a primary nearer the target: the cost at the target is lower" in (
        short.text
    )


SHARDED = [sharded(3000, 110.0), sharded(6000, 100.0)]
"""Each primary 11 % and 20 % busy: far from the 70 % target."""


def test_a_sharded_pool_not_loaded_near_the_target_applies_the_one_primary_curve(
    tmp_path: Path,
) -> None:
    config = Config("atomic", 4, 3)
    criteria = replace(CRITERIA, peak=45_000.0)
    found = findings(config, SHARDED, criteria, CURVE)
    r = found.recommendation
    assert r is not None and r.prediction.us_per_op == pytest.approx(70.0)
    assert r.prediction.borrowed == CONFIG and r.primaries == 5
    assert found.summary["cost_curve"] == "shards=1"
    assert "one_primary_curve" in found.summary["caveats"].split(",")
    assert (
        "This pool's own steps loaded each of its 3 primaries at most 20 % of a core, short "
        "of 70%, so the plan applies the cost-against-load curve measured on one primary "
        "(atomic, lobbies of 4) at the per-primary rate" in found.text
    )
    # Without the one-primary rows, its own lightly loaded step, said to err high.
    alone = findings(config, SHARDED, criteria)
    assert alone.recommendation is not None and alone.recommendation.prediction.borrowed is None
    assert alone.summary["us_per_join"] == "100.0" and alone.summary["cost_curve"] == "own"
    assert "light_load" in alone.summary["caveats"].split(",")
    # The report compares each sharded step with the one-primary curve at the same load.
    shards_plan = replace(plan(tmp_path), shards=[1, 3])
    write_report(tmp_path / "r.md", shards_plan, [*CURVE, *SHARDED], [], "lobbysim capacity")
    text = (tmp_path / "r.md").read_text()
    assert "| atomic, lobbies of 4, 3 shards | sweep | 6,000 | 20 | 100.0 | 100.0 | 1.00 |" in text
    assert (
        "| atomic, lobbies of 4, 3 shards | sweep | 3,000 | 11 | 110.0 | outside the curve |"
        in (text)
    )
    assert "70.0 µs (interpolated; from the one-primary curve (atomic, lobbies of 4))" in text


def test_a_verification_that_cannot_saturate_local_primaries_says_the_cores_it_lacked(
    tmp_path: Path,
) -> None:
    from lobbysim.cli.capacity.model import processes_needed
    from lobbysim.cli.capacity.run import Placement, Verification

    config = Config("atomic", 4, 3)
    row = replace(sharded(12000, 90.0), phase="verify", generator_cpu_pct=99,
                  generator_demand_pct=99)  # fmt: skip
    checked = Verification(config, Placement(2), "not pinned", row, cores=2, local_primaries=3)
    shards_plan = replace(plan(tmp_path), shards=[1, 3], verify=True)
    rows = [*CURVE, *SHARDED, row]
    write_report(tmp_path / "r.md", shards_plan, rows, [checked], "lobbysim capacity")
    text = (tmp_path / "r.md").read_text()
    needed = processes_needed(row.offered, SHARDED)
    assert (
        f"inconclusive: generator-bound, Redis did not saturate (saturating 3 primaries takes "
        f"3 cores for Redis and {needed} for Locust at its measured cost per join: "
        f"{3 + needed}; this machine let the run use 2, shared by its 3 local Redis primaries "
        "and Locust)" in text
    )
