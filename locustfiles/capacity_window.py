"""The measured window of a capacity step, on the Locust side: loaded by Locust beside the
scenarios by ``lobbysim capacity`` (``-f locustfiles/lobby.py,locustfiles/capacity_window.py``).

A step first warms up (``--capacity-warmup`` seconds: the users ramp up, open their
connections, load the scripts, learn the pool's epoch), then measures for
``--capacity-window`` seconds, then runs on until Locust's ``-t`` stops it. Only the joins
answered inside the window count, each with its latency from its intended send time (open
model): the first calls of a run (connections, script loads) and the last ones (held up
while Locust stops its users) are left out, so what is measured is the server at a steady
offered rate. (Answered, not meant to be sent, inside the window: a generator that falls
behind sends late, possibly after the window, joins meant for it.) Each process keeps its own
window: its joins counted, their latencies in µs in the HDR histograms of
``locustfiles/latency.py`` (the value Locust is given, unrounded: Locust's own entries keep
whole milliseconds below 100 ms, too coarse to judge a p99 against a 10 ms objective). A
worker sends what it has with each of its reports (then starts afresh, as Locust does), the
master adds them up, and the master or the only process writes the window to
``--capacity-window-file`` as JSON once the run has ended.

The window's bounds are ``time.monotonic()`` values of the process that writes the file, so
the capacity command samples both sides' CPU over the same seconds. A worker's bounds reach
its master as offsets from the worker's own clock at the moment it reports, placed on the
master's clock when the report arrives: a worker on another machine has a clock of its own.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
from locust import events
from locust.argument_parser import LocustArgumentParser
from locust.env import Environment
from locust.runners import WorkerRunner

from locustfiles.latency import Latencies

STEP_NAME = "join (open)"
"""The Locust request name of OpenJoins' joins (run.STEP_NAME)."""
REPORT_KEY = "capacity_window"
"""Where a worker's report carries its window's stats to the master."""
FIGURES = {"p50_us": "p50", "p95_us": "p95", "p99_us": "p99", "p999_us": "p99.9", "max_us": "max"}
"""Each figure of the window file, in µs, and its name in a latency summary."""


@dataclass
class Window:
    """This process's window: its bounds, and the joins answered inside it."""

    warmup: float = 0.0
    length: float = 0.0
    opens: float = math.inf
    closes: float = math.inf
    requests: int = 0
    """Joins answered in the window (an error included)."""
    failures: int = 0
    latencies: Latencies = field(default_factory=Latencies)
    """Their latencies, in µs."""
    workers: dict[str, tuple[float, float]] = field(default_factory=dict)
    """On a master: each worker's window, on the master's clock."""
    cpu_opened: float | None = None
    cpu_closed: float | None = None
    """This process's CPU seconds (``time.process_time()``) as its window opened and closed:
    what a worker on another machine used, which the capacity command cannot sample."""
    workers_cpu: dict[str, float] = field(default_factory=dict)
    """On a master: each worker's CPU seconds over its window, as it last reported."""

    def start(self, now: float) -> None:
        self.opens = now + self.warmup
        self.closes = self.opens + self.length
        self.requests = self.failures = 0
        self.latencies.reset()
        self.workers.clear()
        self.workers_cpu.clear()
        self.cpu_opened = self.cpu_closed = None

    def stop(self, now: float) -> None:
        """The users stop: nothing from now on is the steady state."""
        self.closes = min(self.closes, now)

    def cpu_at_open(self, cpu: float) -> None:
        if self.cpu_opened is None:
            self.cpu_opened = cpu

    def cpu_at_close(self, cpu: float) -> None:
        """The window closes (its end, or the stop: the first of them); a window that never
        opened measured nothing."""
        if self.cpu_opened is not None and self.cpu_closed is None:
            self.cpu_closed = cpu

    @property
    def cpu_seconds(self) -> float | None:
        """This process's CPU over its window (None: it has not closed yet)."""
        if self.cpu_opened is None or self.cpu_closed is None:
            return None
        return self.cpu_closed - self.cpu_opened

    def record(self, now: float, response_time: float, length: int, failed: bool) -> None:
        """One join, answered (or failed) at ``now`` after ``response_time`` ms."""
        if self.opens <= now < self.closes:
            self.requests += 1
            self.failures += failed
            self.latencies.record(STEP_NAME, response_time / 1000)

    def report(self, now: float) -> dict[str, Any]:
        """What this worker recorded since its last report (then forgotten, as Locust's),
        and its window's bounds as offsets from ``now``, its clock as it reports."""
        report = {
            "requests": self.requests,
            "failures": self.failures,
            "workers": len(self.workers),
            # Only when every worker measured its window: a partial sum would understate it.
            "workers_cpu_s": sum(self.workers_cpu.values())
            if self.workers and len(self.workers_cpu) == len(self.workers)
            else None,
            "latency_us": self.latencies.take_report(),
            "opens_in": self.opens - now,
            "closes_in": self.closes - now,
            "cpu_s": self.cpu_seconds,
        }
        self.requests = self.failures = 0
        return report

    def add(self, worker: str, report: dict[str, Any], now: float) -> None:
        """A worker's report, on its master, arriving at ``now`` (the master's clock). A
        worker's window opens when its own run starts, later than its master's: the master's
        window is the part of its workers' windows they all share."""
        self.requests += report["requests"]
        self.failures += report["failures"]
        self.latencies.add_report(report["latency_us"])
        self.workers[worker] = (now + report["opens_in"], now + report["closes_in"])
        if report.get("cpu_s") is not None:
            self.workers_cpu[worker] = report["cpu_s"]

    def result(self) -> dict[str, Any]:
        some = self.requests > 0
        figures = self.latencies.summary().get(STEP_NAME, {})
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
            "requests": self.requests,
            "failures": self.failures,
            "workers": len(self.workers),
            # Only when every worker measured its window: a partial sum would understate it.
            "workers_cpu_s": sum(self.workers_cpu.values())
            if self.workers and len(self.workers_cpu) == len(self.workers)
            else None,
            **{name: figures.get(figure) if some else None for name, figure in FIGURES.items()},
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
    parser.add_argument(
        "--capacity-run-on", type=float, default=None, include_in_web_ui=False,
        help="stop the run this many seconds after the window closes (-t is then only a "
        "bound): the window's clock starts once the scenario has started, -t's before",
    )  # fmt: skip


def _start(environment: Environment, **_kwargs: Any) -> None:
    options = environment.parsed_options
    if options is None:
        return
    WINDOW.warmup = options.capacity_warmup
    WINDOW.length = options.capacity_window
    WINDOW.start(time.monotonic())
    # This process's CPU as the window opens and closes (a stop closes it earlier).
    gevent.spawn_later(WINDOW.warmup, lambda: WINDOW.cpu_at_open(time.process_time()))
    if math.isfinite(WINDOW.length):
        gevent.spawn_later(
            WINDOW.warmup + WINDOW.length, lambda: WINDOW.cpu_at_close(time.process_time())
        )
        run_on = options.capacity_run_on
        if run_on is not None and not isinstance(environment.runner, WorkerRunner):
            # A scenario that took seconds to start (a loaded machine) would have its window
            # cut short by a -t counted from before it: the run ends from the window's clock.
            gevent.spawn_later(WINDOW.warmup + WINDOW.length + run_on, _quit, environment)


def _quit(environment: Environment) -> None:
    runner = environment.runner
    if runner is not None:
        runner.quit()  # as Locust's own -t does in a headless run


def _stopping(environment: Environment, **_kwargs: Any) -> None:
    WINDOW.stop(time.monotonic())
    WINDOW.cpu_at_close(time.process_time())


def _request(
    name: str, response_time: float, response_length: int, exception: BaseException | None,
    **_kwargs: Any,
) -> None:  # fmt: skip
    if name == STEP_NAME:
        WINDOW.record(time.monotonic(), response_time, response_length, exception is not None)


def _report(client_id: str, data: dict[str, Any], **_kwargs: Any) -> None:
    data[REPORT_KEY] = WINDOW.report(time.monotonic())


def _worker_report(client_id: str, data: dict[str, Any], **_kwargs: Any) -> None:
    if REPORT_KEY in data:
        WINDOW.add(client_id, data[REPORT_KEY], time.monotonic())


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
