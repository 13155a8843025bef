"""`lobbysim capacity --quick` against the test's private Redis: all three files, sane numbers."""

from __future__ import annotations

import csv
from pathlib import Path

from tests.cli import lobbysim
from tests.redis_server import RedisServer


def test_quick_capacity_run_writes_csv_report_and_plot(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    out = tmp_path / "capacity"
    result = lobbysim(
        "capacity", "--quick", "--shards", "1,2", "--redis-url", redis_server.url,
        "--out", str(out), timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    with open(out / "capacity.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["shards"], float(r["offered"])) for r in rows] == [
        (shards, rate) for shards in ("1", "2") for rate in (500.0, 1414.0, 4000.0)
    ]
    for row in rows:
        assert row["audit_ok"] == "True" and row["exact_count"] == "True" and row["errors"] == "0"
        assert 0.5 * float(row["offered"]) < float(row["achieved"]) <= 1.1 * float(row["offered"])
        assert 0 < float(row["p50_ms"]) <= float(row["p99_ms"]) <= float(row["max_ms"])
        assert float(row["redis_memory_mb"]) > 0
    report = (out / "report.md").read_text()
    assert "Saturation knee" in report and "primar" in report and "open model" in report
    assert "## atomic, lobbies of 4, 2 shards" in report
    assert "## Throughput against shard count" in report
    assert (out / "capacity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "knee=" in result.stdout


def test_capacity_bad_flags_are_one_line(tmp_path: Path) -> None:
    for extra in (
        ["--max-users", "0"],
        ["--strategy", "fast"],
        ["--steps", "0"],
        ["--shards", "0"],
        ["--shards", "two"],
        [],
    ):
        args = ["capacity", "--out", str(tmp_path), *extra]
        if extra:
            args += ["--redis-url", "redis://127.0.0.1:1/0"]
        result = lobbysim(*args, timeout=60, env={"PATH": "/usr/bin:/bin"})
        assert result.returncode == 2, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
