"""The simulator's engine works without the dashboard: importing it loads no Textual."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_engine_loads_no_textual() -> None:
    code = (
        "import sys, simulator, simulator.engine, simulator.follower, simulator.source;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'textual'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


def test_the_dashboard_is_where_textual_comes_in() -> None:
    code = "import sys, simulator.dashboard; print('textual' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "True"
