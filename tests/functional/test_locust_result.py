"""The Locust run's result file: its end-of-run audit as JSON, read by capacity, benchmarks
and tests instead of the printed line (which stays, for people)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lobbycore.violations import Violation
from lobbysim.testing import RedisServer

LOCUSTFILE = str(Path(__file__).resolve().parents[2] / "locustfiles" / "lobby.py")
FIELDS = {
    "ok", "pool", "strategy", "violations", "problems", "joins", "placed_reported",
    "placed_server", "unanswered", "bookings", "lobbies", "waiting", "latency_us",
}  # fmt: skip


def locust(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "locust", "-f", LOCUSTFILE, "--headless", "--only-summary", *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


@pytest.mark.parametrize("strategy", ["atomic", "naive"])
def test_the_run_writes_its_audit_as_json(
    redis_server: RedisServer, pool_name: str, tmp_path: Path, strategy: str
) -> None:
    path = tmp_path / "result.json"
    result = locust(
        "-u", "10", "-r", "10", "-t", "2s", "--stop-timeout", "3",
        "--redis-url", redis_server.url, "--pool", pool_name, "--strategy", strategy,
        "--result-file", str(path), "JoinStorm",
    )  # fmt: skip
    audit = json.loads(path.read_text())
    assert set(audit) == FIELDS
    assert audit["pool"] == pool_name and audit["strategy"] == strategy
    assert set(audit["violations"]) == {str(kind) for kind in Violation}
    assert all(isinstance(count, int) for count in audit["violations"].values())
    assert audit["joins"] > 50 and audit["bookings"] == 0  # JoinStorm only joins
    assert isinstance(audit["lobbies"], int) and isinstance(audit["waiting"], int)
    line = next(x for x in result.stdout.splitlines() if x.startswith("lobbysim audit:"))
    assert f"ok={str(audit['ok']).lower()}" in line and f"joins={audit['joins']}" in line
    if strategy == "atomic":
        assert result.returncode == 0, result.stderr[-2000:]
        assert audit["ok"] is True and audit["problems"] == []
        assert not any(audit["violations"].values())
        assert audit["placed_reported"] == audit["placed_server"] > 0
    else:  # the article's algorithm races: the file says so, like the exit code
        assert result.returncode == 1
        assert audit["ok"] is False and 0 < len(audit["problems"]) <= 20
        assert audit["violations"]["user_in_two_lobbies"] > 0
        assert audit["placed_server"] is None  # the naive store keeps no count


def test_the_result_file_can_come_from_the_environment(
    redis_server: RedisServer, pool_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "from-env.json"
    monkeypatch.setenv("LOBBYSIM_RESULT_FILE", str(path))
    result = locust(
        "-u", "2", "-r", "2", "-t", "1s", "--redis-url", redis_server.url, "--pool", pool_name,
        "JoinStorm",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(path.read_text())["ok"] is True


def test_a_result_file_in_a_missing_folder_is_one_line_exit_2(
    redis_server: RedisServer, pool_name: str, tmp_path: Path
) -> None:
    result = locust(
        "-u", "1", "-t", "1s", "--redis-url", redis_server.url, "--pool", pool_name,
        "--result-file", str(tmp_path / "nowhere" / "result.json"), "JoinStorm",
    )  # fmt: skip
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("lobbysim: error:")]
    assert errors == [f"lobbysim: error: --result-file: no folder {str(tmp_path / 'nowhere')!r}"]
    assert "Traceback" not in result.stderr
