"""The measured window of a capacity step, on the Locust side: loaded by Locust beside the
scenarios (``-f locustfiles/lobby.py,<this file>``), never imported by lobbysim itself (Locust
monkey-patches the process it runs in).

A step first warms up (``--capacity-warmup`` seconds: the users ramp up, open their
connections, load the scripts, learn the pool's epoch), then measures for
``--capacity-window`` seconds, then runs on until Locust's ``-t`` stops it. Only the joins
answered inside the window count, each with its latency from its intended send time (open
model): the first calls of a run (connections, script loads) and the last ones (held up
while Locust stops its users) are left out, so what is measured is the server at a steady
offered rate. (Answered, not meant to be sent, inside the window: a generator that falls
behind sends late, possibly after the window, joins meant for it.) Each process keeps its own
window, in Locust's own kind of entry (its rounding and percentiles); a worker sends what it
has with each of its reports, and the master or the only process writes the window to
``--capacity-window-file`` as JSON once the run has ended.

The window's bounds are ``time.monotonic()`` values: one clock for every process of this
machine, so the capacity command samples both sides' CPU over the same seconds.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from locust import events
from locust.argument_parser import LocustArgumentParser
from locust.env import Environment
from locust.runners import WorkerRunner
from locust.stats import StatsEntry

STEP_NAME = "join (open)"
"""The Locust request name of OpenJoins' joins (run.STEP_NAME)."""
REPORT_KEY = "capacity_window"
"""Where a worker's report carries its window's stats to the master."""
PERCENTILES = {"p50_ms": 0.5, "p95_ms": 0.95, "p99_ms": 0.99, "p999_ms": 0.999, "max_ms": 1.0}
"""Each figure, in Locust's rounding (as its own tables show them)."""


@dataclass
class Window:
    """This process's window: its bounds, and the joins answered inside it."""

    warmup: float = 0.0
    length: float = 0.0
    opens: float = math.inf
    closes: float = math.inf
    answered: StatsEntry = field(default_factory=lambda: StatsEntry(None, STEP_NAME, "lobby"))  # type: ignore[arg-type]
    workers: dict[str, tuple[float, float]] = field(default_factory=dict)
    """On a master: each worker's window."""

    def start(self, now: float) -> None:
        self.opens = now + self.warmup
        self.closes = self.opens + self.length
        self.answered.reset()  # type: ignore[no-untyped-call]
        self.workers.clear()

    def stop(self, now: float) -> None:
        """The users stop: nothing from now on is the steady state."""
        self.closes = min(self.closes, now)

    def record(self, now: float, response_time: float, length: int, failed: bool) -> None:
        """One join, answered (or failed) at ``now`` after ``response_time`` ms."""
        if self.opens <= now < self.closes:
            self.answered.log(response_time, length)  # type: ignore[arg-type]
            if failed:
                self.answered.log_error(None)

    def report(self) -> dict[str, Any]:
        """What this worker recorded since its last report (then forgotten, as Locust's),
        and its window's bounds."""
        return {
            "answered": self.answered.get_stripped_report(),
            "opens": self.opens,
            "closes": self.closes,
        }

    def add(self, worker: str, report: dict[str, Any]) -> None:
        """A worker's report, on its master. A worker's window opens when its own run
        starts, later than its master's: the master's window is the part of its workers'
        windows they all share."""
        self.answered.extend(StatsEntry.unserialize(report["answered"], None))  # type: ignore[arg-type]
        self.workers[worker] = (report["opens"], report["closes"])

    def result(self) -> dict[str, Any]:
        answered = self.answered
        some = answered.num_requests > 0
        opens, closes = self.opens, self.closes
        seconds = max(0.0, closes - opens)
        if self.workers:
            bounds = self.workers.values()
            opens, closes = max(b[0] for b in bounds), min(b[1] for b in bounds)
            # Each worker counted its joins over its own window: their mean length is the
            # length over which the counts add up to a rate.
            seconds = sum(max(0.0, b[1] - b[0]) for b in bounds) / len(bounds)
        return {
            "opens": opens,
            "closes": closes,
            "seconds": seconds,
            "warmup": self.warmup,
            "requests": answered.num_requests,
            "failures": answered.num_failures,
            **{
                name: answered.get_response_time_percentile(fraction) if some else None
                for name, fraction in PERCENTILES.items()
            },
        }


WINDOW = Window()


def _options(parser: LocustArgumentParser, **_kwargs: Any) -> None:
    # On the parser itself: only its add_argument can keep them out of the web UI's form.
    parser.add_argument(
        "--capacity-warmup", type=float, default=0.0, include_in_web_ui=False,
        help="seconds from the start before the window opens",
    )  # fmt: skip
    parser.add_argument(
        "--capacity-window", type=float, default=math.inf, include_in_web_ui=False,
        help="seconds the window stays open (it closes earlier if the run stops)",
    )  # fmt: skip
    parser.add_argument(
        "--capacity-window-file", default=None, include_in_web_ui=False,
        help="where the master (or the only process) writes the window, as JSON",
    )  # fmt: skip


def _start(environment: Environment, **_kwargs: Any) -> None:
    options = environment.parsed_options
    if options is None:
        return
    WINDOW.warmup = options.capacity_warmup
    WINDOW.length = options.capacity_window
    WINDOW.start(time.monotonic())


def _stopping(environment: Environment, **_kwargs: Any) -> None:
    WINDOW.stop(time.monotonic())


def _request(
    name: str, response_time: float, response_length: int, exception: BaseException | None,
    **_kwargs: Any,
) -> None:  # fmt: skip
    if name == STEP_NAME:
        WINDOW.record(time.monotonic(), response_time, response_length, exception is not None)


def _report(client_id: str, data: dict[str, Any], **_kwargs: Any) -> None:
    data[REPORT_KEY] = WINDOW.report()


def _worker_report(client_id: str, data: dict[str, Any], **_kwargs: Any) -> None:
    if REPORT_KEY in data:
        WINDOW.add(client_id, data[REPORT_KEY])


def _write(environment: Environment, **_kwargs: Any) -> None:
    """Registered after the scenarios' own end of run (stop the users, wait for their calls
    and, on a master, for every worker's last report; the audit): the window is complete."""
    options = environment.parsed_options
    if options is None or options.capacity_window_file is None:
        return
    if isinstance(environment.runner, WorkerRunner):
        return  # its master writes the window
    Path(options.capacity_window_file).write_text(json.dumps(WINDOW.result()) + "\n")


def _register() -> None:
    hooks: Any = events  # Locust's event hooks carry no type hints
    hooks.init_command_line_parser.add_listener(_options)
    hooks.test_start.add_listener(_start)
    hooks.test_stopping.add_listener(_stopping)
    hooks.request.add_listener(_request)
    hooks.report_to_master.add_listener(_report)
    hooks.worker_report.add_listener(_worker_report)
    hooks.test_stop.add_listener(_write)


_register()
