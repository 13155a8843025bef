"""The Locust client against a server with few client slots (``maxclients``): the pipelined
client uses the connections it says it uses (its first calls open the store once, not once
per user), and a server that runs out of slots mid-run still gets the end-of-run audit's
line and result file, naming the cause.

Locust runs in its own process (it monkey-patches); the servers are private, on 127.0.0.1.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from lobbysim.testing import RedisServer
from tests.functional.test_locust import LOCUST, audit_of, headless, result_file

__all__ = ["result_file"]  # the fixture: where each run writes its audit

CONNECTIONS = 2
# Beside the pipeline's connections: the one the store opened with (INFO, the library), a
# spare for the audit, and the test's own sampling connection.
OTHERS = 3


def start_locust(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*LOCUST, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_the_pipelined_client_holds_the_connections_it_says(result_file: Path) -> None:
    with RedisServer("--maxclients", "16") as server:
        admin = server.client(socket_timeout=10)
        run = start_locust(
            *headless(server, "--connections", str(CONNECTIONS), users="60", seconds=4)
        )
        most = 0
        while run.poll() is None:
            most = max(most, int(admin.info("clients")["connected_clients"]))
            time.sleep(0.05)
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, out[-3000:] + err[-3000:]
        audit = audit_of(out)
        assert audit["ok"] is True and audit["joins"] > 0, audit
        assert "max number of clients" not in out + err
        assert 0 < most <= CONNECTIONS + OTHERS, most
        admin.close()


def test_a_server_out_of_client_slots_still_gets_the_audit_line_and_file(
    result_file: Path,
) -> None:
    with RedisServer() as server:
        admin = server.client(socket_timeout=10)
        run = start_locust(*headless(server, users="20", seconds=6))
        # Once the run has placed buyers, no client may connect any more and every
        # connection but this one is cut: the run's calls, then its audit, find no slot.
        deadline = time.monotonic() + 60
        while not any(
            int(admin.hget(key, "joins") or 0)
            for key in admin.scan_iter(match="lobbysim:*stats", count=1000)
        ):
            assert run.poll() is None and time.monotonic() < deadline, run.communicate()
            time.sleep(0.05)
        admin.config_set("maxclients", "1")
        admin.client_kill_filter(_type="normal", skipme=True)
        out, err = run.communicate(timeout=120)
        assert run.returncode == 1, out[-3000:] + err[-3000:]
        lines = [line for line in out.splitlines() if line.startswith("lobbysim audit:")]
        assert len(lines) == 1, out[-3000:] + err[-3000:]
        assert "ok=false" in lines[0] and "max number of clients reached" in lines[0], lines
        result = json.loads(result_file.read_text())
        assert result["ok"] is False and "max number of clients reached" in result["error"]
        admin.close()
