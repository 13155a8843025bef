"""At the end of a headless run the master tells every worker to quit and waits for it,
whatever state the master last saw it in: a worker that looked idle or missing (its messages
late on a loaded machine) may still be spawning or running users, and an audit taken while
it writes reports violations that are not there. After the web UI's stop, idle workers stay.

locustfiles imports Locust, which patches the process: exercised in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

SCRIPT = r"""
import json, sys
from types import SimpleNamespace
from locust.runners import STATE_INIT, STATE_MISSING, STATE_RUNNING, STATE_STOPPED
from locustfiles import stopping

headless = sys.argv[1] == "headless"
states = {"running": STATE_RUNNING, "ready": STATE_INIT, "missing": STATE_MISSING,
          "stopped": STATE_STOPPED}
clients = {name: SimpleNamespace(id=name, state=state) for name, state in states.items()}
told = []

class Clients(dict):
    @property
    def all(self):
        return list(self.values())

registry = Clients(clients)

def send_to_client(message):
    told.append(message.node_id)
    registry.pop(message.node_id)  # the worker quits at once

runner = SimpleNamespace(clients=registry, server=SimpleNamespace(send_to_client=send_to_client))
environment = SimpleNamespace(stop_timeout=0, parsed_options=SimpleNamespace(headless=headless))
settled = stopping._stop_workers(environment, runner)
print(json.dumps({"told": sorted(told), "settled": settled}))
"""


@pytest.mark.parametrize(
    ("mode", "told"),
    [
        ("headless", ["missing", "ready", "running", "stopped"]),
        ("web", ["running"]),
    ],
)
def test_which_workers_are_told_to_quit(mode: str, told: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"told": told, "settled": True}
