"""Run the `lobbysim` command as a user would: in its own process."""

from __future__ import annotations

import subprocess
import sys


def lobbysim(
    *args: str, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lobbysim.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )
