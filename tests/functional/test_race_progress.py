"""``lobbysim race`` shows its progress on stderr: each half's joins so far, their rate and
the violations found, a line every LOBBYSIM_PROGRESS_SECONDS (shortened here so that a
small run shows several); redrawn in place on a terminal, plain lines otherwise. Nothing
here depends on how fast the run goes: only on the lines' shape and their order."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import threading

from lobbysim.cli.race import PROGRESS_ENV

USERS = "200"
HALF = r"(?:(?P<{s}>{s}) (?:waiting|(?:done: )?(?P<{s}_joins>\d+)/200 joins, \d+/s" \
    r"(?:, (?:booking|auditing))?, violations \d+(?: so far)?))"  # fmt: skip
LINE = re.compile("race: " + HALF.format(s="atomic") + r" \| " + HALF.format(s="naive") + r"\Z")


def run_race(env: dict[str, str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "lobbysim.cli", "race", "--users", USERS],
        env={**os.environ, **env},
        text=True,
        timeout=300,
        check=False,
        **kwargs,
    )


def joins(lines: list[str], half: str) -> list[int]:
    matches = [LINE.fullmatch(line) for line in lines]
    return [int(m[f"{half}_joins"]) for m in matches if m and m[f"{half}_joins"]]


def test_a_run_shows_plain_progress_lines_when_stderr_is_not_a_terminal() -> None:
    result = run_race({PROGRESS_ENV: "0.01"}, capture_output=True)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines and "\r" not in result.stderr
    for line in lines:
        assert LINE.fullmatch(line), line
    for half in ("atomic", "naive"):  # counts only ever grow, and never past the buyers
        counts = joins(lines, half)
        assert counts == sorted(counts) and all(n <= int(USERS) for n in counts)
    for line in lines:  # once the naive half is under way, the atomic one is done
        if (match := LINE.fullmatch(line)) and match["naive_joins"]:
            assert "atomic done: 200/200 joins" in line, line
    assert "strategy=naive" in result.stdout  # the results are printed as before


def test_a_run_redraws_one_line_on_a_terminal() -> None:
    controller, terminal = pty.openpty()
    chunks: list[bytes] = []

    def drain() -> None:  # read as it comes, or the child would block on a full pty
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the child's end is closed
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        result = run_race({PROGRESS_ENV: "0.01"}, stdout=subprocess.PIPE, stderr=terminal)
    finally:
        os.close(terminal)
    reader.join(timeout=30)
    os.close(controller)
    shown = b"".join(chunks).decode()
    assert result.returncode == 0
    assert shown.startswith("\rrace: ") and shown.endswith("\r\n"), shown[-200:]
    # Every update goes back to the start of the line (and clears what was there), and the
    # results' first line is left on a line of its own.
    updates = shown.removesuffix("\r\n").split("\r")[1:]
    assert updates and all(u.startswith("race: ") and u.endswith("\x1b[K") for u in updates)
    for update in updates:
        assert LINE.fullmatch(update.removesuffix("\x1b[K")), update


def test_no_progress_line_before_the_first_interval() -> None:
    result = run_race({PROGRESS_ENV: "600"}, capture_output=True)
    assert result.returncode == 0 and result.stderr == ""


def test_a_bad_interval_is_one_line_exit_2() -> None:
    result = run_race({PROGRESS_ENV: "soon"}, capture_output=True)
    assert result.returncode == 2
    assert (
        result.stderr
        == f"lobbysim: error: {PROGRESS_ENV} must be a number of seconds, got 'soon'\n"
    )
