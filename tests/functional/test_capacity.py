"""`lobbysim capacity`: the plan's rules on made-up steps, and real runs against private
redis-servers (a --quick run with --verify, an interrupted run, bad flags)."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import pytest

from lobbysim.cli.capacity.model import GENERATOR_HEADROOM, Bottleneck, Step, recommend
from lobbysim.cli.capacity.plan import Plan
from lobbysim.cli.capacity.report import CSV_COLUMNS, write_report
from lobbysim.testing import RedisServer
from tests.cli import lobbysim
from tests.unit.test_capacity_report import table_rows

PEAK = 50_000.0
SLO_MS = 10.0
TARGET = 0.7


def _step(offered: float, achieved: float, p99: float, redis_pct: float, us: float,
          generator_pct: float, phase: str = "sweep") -> Step:  # fmt: skip
    return Step(
        strategy="atomic", max_users=4, shards=1, phase=phase, offered=offered,
        achieved=achieved, p50_us=1000.0, p95_us=p99 * 500, p99_us=p99 * 1000, max_us=p99 * 2000,
        requests=int(achieved * 10), errors=0, audit_ok=True, exact_count=True, window_s=9.0,
        redis_cpu_pct=redis_pct, busiest_primary_pct=redis_pct,
        busiest_primary_demand_pct=redis_pct, primaries_used=1,
        redis_ops=int(achieved * 9), redis_us_per_op=us, load_processes=1, generator_cores=1,
        pinned=False, generator_cpu_pct=generator_pct, generator_demand_pct=generator_pct,
        generator_us_per_op=150.0, machine_cpu_pct=60.0, others_cpu_pct=5.0, redis_memory_mb=5.0,
    )  # fmt: skip


def _plan(out: Path) -> Plan:
    return Plan(
        redis_url="redis://:hunter2secret@127.0.0.1:1/0", out=out, max_users=[4],
        strategies=["atomic"], shards=[1], rates=[1000.0, 5000.0, 10000.0], step_seconds=10.0,
        warmup_seconds=2.0, users=50, processes=1, slo_ms=SLO_MS, peak=PEAK, target_utilization=TARGET,
        verify=False,
    )  # fmt: skip


GENERATOR_BOUND_SWEEP = [
    _step(1000, 1000, 2.0, redis_pct=8, us=80.0, generator_pct=20),
    # The knee at the SLO, 5,000 joins/s: the generator was already at its limit there...
    _step(5000, 5000, 4.0, redis_pct=25, us=50.0, generator_pct=90),
    # ...and the next step fell behind because of the generator, Redis at 30 %.
    _step(10000, 6000, 900.0, redis_pct=30, us=50.0, generator_pct=99),
]


def test_a_generator_bound_knee_never_gives_the_recommendation(tmp_path: Path) -> None:
    plan = recommend(GENERATOR_BOUND_SWEEP, SLO_MS, TARGET, PEAK)
    assert plan is not None
    assert [s.bottleneck for s in GENERATOR_BOUND_SWEEP] == [
        Bottleneck.NEITHER, Bottleneck.GENERATOR, Bottleneck.GENERATOR
    ]  # fmt: skip
    assert plan.knee is GENERATOR_BOUND_SWEEP[1]
    assert plan.knee_limited_by is Bottleneck.GENERATOR and not plan.knee_used
    # From Redis's own cost at the busiest step (50 µs per join): 14,000 joins/s per primary
    # at 70 %, so 4 primaries; the knee (5,000 joins/s) would have said 10.
    assert plan.prediction.basis is GENERATOR_BOUND_SWEEP[2]
    assert plan.per_primary == pytest.approx(TARGET * 1e6 / 50.0)
    assert plan.primaries == math.ceil(PEAK / (TARGET * 1e6 / 50.0)) == 4
    assert plan.primaries != math.ceil(PEAK / 5000)

    write_report(tmp_path / "report.md", _plan(tmp_path), GENERATOR_BOUND_SWEEP, [], "lobbysim x")
    report = (tmp_path / "report.md").read_text()
    head = "\n".join(report.splitlines()[:8])
    assert "No step was server-bound" in head and "**4 primaries**" in head
    assert "was generator-bound: the knee says how far this generator goes" in report
    assert "is not used" in report
    assert "hunter2secret" not in report


def test_a_server_bound_knee_below_the_prediction_is_used() -> None:
    steps = [
        _step(1000, 1000, 2.0, redis_pct=10, us=80.0, generator_pct=20),
        _step(4000, 4000, 5.0, redis_pct=60, us=60.0, generator_pct=50),
        # Redis at its limit and the SLO broken at 8,000: the knee (4,000) is Redis's.
        _step(8000, 6500, 400.0, redis_pct=97, us=60.0, generator_pct=60),
    ]
    plan = recommend(steps, SLO_MS, TARGET, PEAK)
    assert plan is not None
    assert plan.knee_limited_by is Bottleneck.SERVER and plan.knee_used
    assert plan.per_primary == 4000 and plan.primaries == math.ceil(PEAK / 4000)
    # Above the knee's rate, the prediction is the lower figure and wins.
    faster = [replace(s, achieved=s.achieved * 10, offered=s.offered * 10) for s in steps]
    plan = recommend(faster, SLO_MS, TARGET, PEAK)
    assert plan is not None and not plan.knee_used
    assert plan.per_primary == pytest.approx(TARGET * 1e6 / 60.0)


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _step_of(row: dict[str, str]) -> Step:
    """A CSV row back as a Step (what the report was written from)."""
    values: dict[str, object] = {}
    for field in fields(Step):
        text = row[field.name]
        if field.type == "float":
            values[field.name] = float(text) if text else math.nan
        elif field.type == "int":
            values[field.name] = int(text)
        elif field.type == "bool":
            values[field.name] = text == "True"
        elif field.type == "bool | None":
            values[field.name] = None if text == "" else text == "True"
        else:
            values[field.name] = text
    return Step(**values)  # type: ignore[arg-type]


SECRET = "capacity-test-secret-7f3a"


def test_quick_sets_a_sub_minute_sweep() -> None:
    from lobbysim.cli import build_parser
    from lobbysim.cli.capacity.plan import plan_of

    args = build_parser().parse_args(["capacity", "--out", "x", "--quick", "--steps", "9"])
    quick = plan_of(args, "redis://127.0.0.1:1/0")
    assert quick.rates == [500.0, 1414.0, 4000.0]  # --quick wins over --steps
    assert (quick.step_seconds, quick.warmup_seconds, quick.users) == (3.0, 1.0, 20)


FAST = ["--steps", "2", "--step-seconds", "2.5", "--warmup-seconds", "0.5", "--users", "10"]
FAST += ["--start-rate", "500", "--max-rate", "2000"]
"""Two short steps a configuration: what the run below checks needs no more (--quick's
own settings are checked above, without a server). Shorter windows saw no sample of Redis's
CPU inside them on a loaded machine (the sampler runs every 0.25 s)."""


def test_a_short_run_with_verify_against_a_password_protected_server(tmp_path: Path) -> None:
    out = tmp_path / "capacity"
    with RedisServer() as server:
        # Set once the server is up (its readiness probe has no password).
        server.client().config_set("requirepass", SECRET)
        url = f"redis://127.0.0.1:{server.port}/0?password={SECRET}"
        assert server.process is not None
        affinity = os.sched_getaffinity(server.process.pid)
        result = lobbysim(
            "capacity", *FAST, "--verify", "--shards", "1,2", f"--redis-url={url}",
            "--out", str(out), timeout=420,
        )  # fmt: skip
        # --verify pins the server to a core of its own for its steps, and only for them.
        assert os.sched_getaffinity(server.process.pid) == affinity
    assert result.returncode == 0, result.stderr[-3000:]
    rows = _rows(out / "capacity.csv")
    assert list(rows[0]) == CSV_COLUMNS
    for column in ("bottleneck", "redis_us_per_op", "primary_joins_per_s_at_target"):
        assert column in CSV_COLUMNS
    assert [(r["shards"], r["phase"], float(r["offered"])) for r in rows if r["phase"] == "sweep"] == [
        (shards, "sweep", rate) for shards in ("1", "2") for rate in (500.0, 2000.0)
    ]  # fmt: skip
    assert [r["shards"] for r in rows if r["phase"] == "verify"] == ["1", "2"]
    for row in rows:
        assert row["audit_ok"] == "True" and row["exact_count"] == "True" and row["errors"] == "0"
        assert row["bottleneck"] in {str(b) for b in Bottleneck}
        # Both sides measured: Redis's cost per join and the generator's CPU; the prediction
        # follows from Redis's cost. How large they are is a measurement, never asserted.
        assert float(row["redis_us_per_op"]) > 0 and float(row["generator_cpu_pct"]) > 0
        assert float(row["primary_joins_per_s_at_target"]) == pytest.approx(
            TARGET * 1e6 / float(row["redis_us_per_op"]), rel=0.01
        )
        assert float(row["achieved"]) > 0  # how fast is a measurement (it may catch up a stall)
        # Whole µs from the HDR histograms, not Locust's whole-ms rounding.
        figures = [row[f"{name}_us"] for name in ("p50", "p95", "p99", "p999", "max")]
        assert all(f.isdigit() for f in figures), figures
        assert 0 <= int(figures[0]) <= int(figures[1]) <= int(figures[2]) <= int(figures[3])
        assert int(figures[3]) <= int(figures[4])
        # Measured after the warm-up, for --step-seconds: the run's first and last joins
        # (start-up, the stop) are no part of the figures.
        assert float(row["warmup_s"]) == 0.5 and float(row["measured_s"]) == 2.5
        assert 0 < int(row["requests"]) < int(row["run_joins"])
    report = (out / "report.md").read_text()
    lines = report.splitlines()
    assert lines[2].startswith("Command: `lobbysim capacity --steps 2 --step-seconds 2.5")
    assert "--verify --shards 1,2" in lines[2]
    assert "--redis-url=redis://127.0.0.1:" in lines[2]
    # The answer first, and from the rules: re-derived here from the CSV the report was
    # written from, so a generator-bound knee can never have given the figure.
    answer = "\n".join(lines[:10])
    steps = [_step_of(r) for r in rows]
    for shards in (1, 2):
        own = [s for s in steps if s.shards == shards]
        one = [s for s in steps if s.shards == 1] if shards > 1 else None
        plan = recommend(own, SLO_MS, TARGET, PEAK, one)
        assert plan is not None
        if plan.knee_limited_by is Bottleneck.GENERATOR:
            assert not plan.knee_used
        label = "atomic, lobbies of 4" + (f", {shards} shards" if shards > 1 else "")
        n = plan.primaries
        assert f"- **{label}**: For a peak of 50,000 joins/s you need **{n} primar" in answer
    if not any(s.bottleneck is Bottleneck.SERVER for s in steps):
        assert "No step was server-bound" in answer
    assert "## Verification" in report and "## How each step is classified" in report
    assert "## Throughput against shard count" in report and "## Assumptions" in report
    assert (out / "capacity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The summary line says what the plan stands on and what qualifies it.
    for line in result.stdout.splitlines():
        fields = dict(item.split("=", 1) for item in line.split())
        assert {"primaries", "basis", "basis_step", "slo", "verify", "caveats"} <= set(fields)
        assert fields["basis_step"].split("@")[0] in ("sweep", "verify")
        assert fields["verify"] != "not_run"
    for path in out.iterdir():
        assert SECRET not in path.read_bytes().decode("utf-8", "replace"), path.name
    assert SECRET not in result.stdout + result.stderr


def test_an_interrupted_run_keeps_its_finished_rows_and_deletes_every_pool(
    tmp_path: Path,
) -> None:
    out = tmp_path / "capacity"
    with RedisServer() as server:
        client = server.client()
        process = subprocess.Popen(
            [
                sys.executable, "-m", "lobbysim.cli", "capacity", "--redis-url", server.url,
                "--out", str(out), "--steps", "3", "--step-seconds", "3", "--start-rate", "300",
                "--max-rate", "1200", "--users", "10",
            ],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 240
            # Wait for the first finished row, then for the second step's joins to be in Redis.
            while not (out / "capacity.csv").exists() or len(_rows(out / "capacity.csv")) < 1:
                assert process.poll() is None, process.communicate()[1][-2000:]
                assert time.monotonic() < deadline
                time.sleep(0.2)
            while client.dbsize() == 0:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
            time.sleep(1.0)
            os.kill(process.pid, signal.SIGINT)
            _, stderr = process.communicate(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        assert process.returncode == 130, stderr[-2000:]
        assert "Traceback" not in stderr
        rows = _rows(out / "capacity.csv")
        assert len(rows) == 1 and rows[0]["phase"] == "sweep" and float(rows[0]["offered"]) == 300
        # Every step's pool is gone, the interrupted one's included.
        assert client.dbsize() == 0, client.keys("*")[:10]
        client.close()
    report = (out / "report.md").read_text()
    assert "**Interrupted** after 1 finished step" in report
    assert "| sweep | 300 |" in report
    assert (out / "capacity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_window_plugin_ends_the_run_after_its_window_not_locusts_time_limit(
    tmp_path: Path,
) -> None:
    from lobbysim.cli.load import installed_locustfile

    files = f"{installed_locustfile('lobby.py')},{installed_locustfile('capacity_window.py')}"
    with RedisServer() as server:
        done = subprocess.run(
            [
                sys.executable, "-m", "locust", "-f", files, "--headless", "--only-summary",
                "-u", "2", "-r", "2", "-t", "120s", "--redis-url", server.url,
                "--arrival-rate", "10", "--capacity-warmup", "0.5", "--capacity-window", "1",
                "--capacity-window-file", str(tmp_path / "window.json"),
                "--capacity-run-on", "0.5", "OpenJoins",
            ],
            capture_output=True, text=True, timeout=110, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    # Ended by the window's clock (a scenario slow to start keeps its whole window), not by
    # -t, which counts from before the scenario started.
    assert "--run-time limit reached" not in done.stderr
    window = json.loads((tmp_path / "window.json").read_text())
    assert window["seconds"] == pytest.approx(1.0) and window["requests"] > 0


SHORT = ["--steps", "1", "--step-seconds", "1", "--warmup-seconds", "0.5", "--users", "4"]
"""One short step: what these runs check does not need more."""


def test_a_step_that_answered_no_join_is_shown_and_the_run_exits_4(tmp_path: Path) -> None:
    out = tmp_path / "capacity"
    # Full at once and refusing to evict: every join is refused (OOM), none is answered.
    with RedisServer("--maxmemory", "1", "--maxmemory-policy", "noeviction") as server:
        result = lobbysim(
            "capacity", "--redis-url", server.url, "--out", str(out), *SHORT,
            "--start-rate", "50", "--max-rate", "50", timeout=180,
        )  # fmt: skip
    assert result.returncode == 4, result.stderr[-2000:]
    [row] = _rows(out / "capacity.csv")
    assert int(row["requests"]) == int(row["errors"]) > 0
    assert row["bottleneck"] == "measured nothing"
    report = (out / "report.md").read_text()
    assert "**1 step measured nothing** (no join answered in its measured window" in report
    assert "| **missed**: no join was answered |" in report and "| checked nothing |" in report
    assert "you need **" not in report  # no plan from a step that measured nothing
    fields = dict(item.split("=", 1) for item in result.stdout.split())
    assert fields["primaries"] == "none" and fields["caveats"] == "measured_nothing"


def test_a_failed_audit_makes_the_run_exit_1_with_its_files_written(tmp_path: Path) -> None:
    out = tmp_path / "capacity"
    # The naive store breaks the guarantees under concurrent joins: its audit fails.
    with RedisServer() as server:
        result = lobbysim(
            "capacity", "--redis-url", server.url, "--out", str(out), *SHORT, "--users", "20",
            "--strategy", "naive", "--start-rate", "300", "--max-rate", "300", timeout=180,
        )  # fmt: skip
    assert result.returncode == 1, result.stderr[-2000:]
    [row] = _rows(out / "capacity.csv")
    assert row["audit_ok"] == "False" and int(row["violations"]) > 0
    table = (out / "report.md").read_text()
    assert "| **FAILED** |" in table
    assert (out / "capacity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    fields = dict(item.split("=", 1) for item in result.stdout.split())
    assert fields["strategy"] == "naive" and fields["audit"] == "failed@300"
    assert "the audit failed" in result.stderr and "naive, lobbies of 4, sweep 300" in result.stderr


def test_expect_workers_runs_the_master_only_and_prints_the_worker_command(
    tmp_path: Path,
) -> None:
    out = tmp_path / "capacity"
    with RedisServer() as server:
        capacity = subprocess.Popen(
            [
                sys.executable, "-m", "lobbysim.cli", "capacity", "--redis-url", server.url,
                "--out", str(out), *SHORT, "--step-seconds", "2", "--start-rate", "300",
                "--max-rate", "300", "--expect-workers", "2",
            ],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        workers: list[subprocess.Popen[bytes]] = []
        try:
            assert capacity.stderr is not None
            line = capacity.stderr.readline()
            assert "waiting for 2 Locust worker(s); start each with: locust -f " in line, line
            command = shlex.split(line.split("start each with: ", 1)[1])
            assert command[0] == "locust" and "--worker" in command
            # Two workers, separate processes as they would be on other machines: nothing
            # but the printed command (the master sends them the URL, the pool, the rate).
            for _ in range(2):
                workers.append(subprocess.Popen(
                    [sys.executable, "-m", "locust", *command[1:]],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                ))  # fmt: skip
            stdout, stderr = capacity.communicate(timeout=240)
            for worker in workers:  # a worker ends with its step
                assert worker.wait(timeout=60) == 0
        finally:
            started: list[subprocess.Popen[Any]] = [capacity, *workers]
            for process in started:
                if process.poll() is None:
                    process.kill()
                    process.wait()
    assert capacity.returncode == 0, stderr[-2000:]
    [row] = _rows(out / "capacity.csv")
    assert row["load_processes"] == "2" and row["remote_load"] == "True"
    assert row["audit_ok"] == "True" and int(row["requests"]) > 0
    # The workers' CPU, each measured by itself over its window, reached the row.
    assert float(row["generator_cpu_pct"]) > 0 and float(row["generator_us_per_op"]) > 0
    table = table_rows((out / "report.md").read_text())
    assert "2 workers started elsewhere (their own CPU)" in table[("sweep", "300")]
    assert "primaries=" in stdout


def test_processes_auto_sizes_each_step_from_the_first_step_s_generator_cost(
    tmp_path: Path,
) -> None:
    out = tmp_path / "capacity"
    with RedisServer() as server:
        result = lobbysim(
            "capacity", "--redis-url", server.url, "--out", str(out), *SHORT, "--steps", "2",
            "--start-rate", "200", "--max-rate", "2000", "--processes", "auto", timeout=240,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    first, second = (_step_of(r) for r in _rows(out / "capacity.csv"))
    assert first.load_processes == 1 and first.generator_us_per_op > 0
    needed = math.ceil(2000 * first.generator_us_per_op / 1e6 / GENERATOR_HEADROOM)
    assert second.load_processes == max(1, min(needed, len(os.sched_getaffinity(0))))
    assert f"{second.load_processes} Locust process(es)" in result.stderr
    table = table_rows((out / "report.md").read_text())
    assert table[("sweep", "2,000")][11] == str(second.load_processes)


def test_wait_replicas_is_priced_against_a_replica_and_refused_without_one(
    tmp_path: Path,
) -> None:
    out = tmp_path / "capacity"
    args = ["capacity", *SHORT, "--start-rate", "200", "--max-rate", "200", "--out", str(out)]
    args += ["--step-seconds", "2"]  # two workers' windows: what they share is sampled
    with RedisServer() as primary:
        alone = lobbysim(*args, "--redis-url", primary.url, "--wait-replicas", "1", timeout=60)
        assert alone.returncode == 2 and not out.exists()
        assert alone.stderr.strip().splitlines() == [
            "lobbysim: error: --wait-replicas 1 needs 1 replica in sync with each primary; the "
            "Redis measured has 0"
        ]
        with RedisServer() as replica:
            follower = replica.client(socket_timeout=10)
            follower.replicaof("127.0.0.1", str(primary.port))
            deadline = time.monotonic() + 30
            while follower.info("replication").get("master_link_status") != "up":
                assert time.monotonic() < deadline
                time.sleep(0.05)
            follower.close()
            # Two Locust workers: their windows reach the master with their reports.
            result = lobbysim(
                *args, "--redis-url", primary.url, "--wait-replicas", "0,1", "--processes", "2",
                timeout=240,
            )  # fmt: skip
            waits = primary.client().info("commandstats").get("cmdstat_wait", {}).get("calls", 0)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = _rows(out / "capacity.csv")
    assert [r["wait_replicas"] for r in rows] == ["0", "1"]
    for row in rows:
        assert row["audit_ok"] == "True" and row["errors"] == "0"
        assert row["load_processes"] == "2"
        assert 0 < int(row["requests"]) < int(row["run_joins"])
        # Both sides over the same window (the part the two workers' windows share): the
        # joins Redis ran in it and those Locust saw answered agree, sampling aside.
        redis_rate = int(row["redis_ops"]) / float(row["window_s"])
        assert 0.5 < redis_rate / float(row["achieved"]) < 2, row
    assert waits > 0
    report = (out / "report.md").read_text()
    assert "- **atomic, lobbies of 4, with WAIT 1 per write**: For a peak of " in report
    assert "Every join waited for 1 replica to acknowledge it (WAIT 1" in report
    assert "(1 replica in sync with each primary)" in report
    summaries = [dict(i.split("=", 1) for i in line.split()) for line in result.stdout.splitlines()]
    assert [s.get("wait_replicas") for s in summaries] == [None, "1"]


BAD_FLAGS = [
    ["--max-users", "0"],
    ["--max-users", ","],
    ["--strategy", "fast"],
    ["--strategy", ""],
    ["--steps", "0"],
    ["--steps", "100000"],
    ["--step-seconds", "0"],
    ["--step-seconds", "99999"],
    ["--shards", "0"],
    ["--shards", "two"],
    ["--peak", "0"],
    ["--peak", "-5"],
    ["--peak", "inf"],
    ["--peak", "nan"],
    ["--target-utilization", "0"],
    ["--target-utilization", "1.5"],
    ["--start-rate", "5000", "--max-rate", "1000"],
    [],
]

_EACH = """
import contextlib, io, json, sys
from lobbysim.cli import main
found = []
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
    found.append([code, err.getvalue()])
print(json.dumps(found))
"""
"""Each command line through lobbysim's own entry point, all in one process (as many
`lobbysim` processes as flags took most of this test's time); its exit status and stderr."""


@pytest.fixture(scope="module")
def bad_flag_results(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, int, str]]:
    runs = []
    for n, extra in enumerate(BAD_FLAGS):
        out = tmp_path_factory.mktemp(f"bad{n}") / "out"
        args = ["capacity", "--out", str(out), *extra]
        if extra:  # nothing listens on port 1: a step would fail differently
            args += ["--redis-url", "redis://:pw-in-flag-9@127.0.0.1:1/0"]
        runs.append((out, args))
    result = subprocess.run(
        [sys.executable, "-c", _EACH, json.dumps([args for _, args in runs])],
        capture_output=True, text=True, timeout=120, check=False, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return [
        (out, code, err)
        for (out, _), (code, err) in zip(runs, json.loads(result.stdout), strict=True)
    ]


@pytest.mark.parametrize(
    "case", range(len(BAD_FLAGS)), ids=[" ".join(e) or "none" for e in BAD_FLAGS]
)
def test_capacity_bad_flags_are_one_line_before_any_step(
    bad_flag_results: list[tuple[Path, int, str]], case: int
) -> None:
    out, code, stderr = bad_flag_results[case]
    assert code == 2, stderr
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr
    assert "pw-in-flag-9" not in stderr
    assert not out.exists()
    assert re.search(r"error", stderr)
