"""Locust's -t timer counts from when the run starts, not from before a slow start-up."""

from __future__ import annotations

import subprocess
import sys

# gevent in a process of its own (Locust's tests do the same: its imports patch the process).
PROBE = """
import sys, time
import gevent
from locustfiles.loop_clock import catch_up
gevent.sleep(0.01)  # the loop has run: its clock is now
started = time.monotonic()
while time.monotonic() - started < 1.5:  # a start-up that blocks the loop
    pass
if sys.argv[1] == "catch-up":
    catch_up()
set_at = time.monotonic()
gevent.spawn_later(1.0, lambda: None).join()
print(round(time.monotonic() - set_at, 2))
"""


def fired_after(mode: str) -> float:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return float(done.stdout)


def test_a_timer_set_after_catching_up_waits_its_whole_time() -> None:
    assert fired_after("catch-up") >= 0.95
    # Without it the same timer fires at once: the loop's clock was 1.5 s behind.
    assert fired_after("none") < 0.5
