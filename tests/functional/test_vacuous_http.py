"""The HTTP scenarios (locustfiles/http.py) never pass a run that had nothing to check: against
a port where nothing listens, or a service that refuses every call, the history check says
``ok=false ... answered=0 ... checked=nothing``, names why no call was answered, and the run
exits 1 (even with Locust's own failure rule off: ``--exit-code-on-error 0``)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from lobbysim.testing import free_port

LOCUSTFILE = str(Path(__file__).resolve().parents[2] / "locustfiles" / "http.py")


def locust(host: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    result_file = tmp_path / "result.json"
    # 3 s: on a busy machine Locust's run-time timer may fire early (gevent's clock is read
    # before its slow start), and a shorter run may end before any answer came.
    done = subprocess.run(
        [
            sys.executable, "-m", "locust", "-f", LOCUSTFILE, "--headless", "--only-summary",
            "-u", "4", "-r", "4", "-t", "3s", "--host", host, "--exit-code-on-error", "0",
            "--result-file", str(result_file),
        ],
        capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    assert result_file.exists(), done.stdout[-2000:] + done.stderr[-2000:]
    return done, json.loads(result_file.read_text())


def verdict_line(done: subprocess.CompletedProcess[str]) -> dict[str, str]:
    (line,) = [x for x in done.stdout.splitlines() if x.startswith("lobbysim history check:")]
    return dict(part.split("=", 1) for part in line.split(":", 1)[1].split())


def test_an_unreachable_service_is_checked_nothing_naming_the_refused_connection(
    tmp_path: Path,
) -> None:
    port = free_port()  # nothing listens there
    done, result = locust(f"http://127.0.0.1:{port}", tmp_path)
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    line = verdict_line(done)
    assert (line["ok"], line["answered"], line["checked"]) == ("false", "0", "nothing"), line
    assert int(line["calls"]) == int(line["unknown"]) > 0, line
    refused = f"connection refused to 127.0.0.1:{port}"
    assert result["ok"] is False and result["checked_nothing"] is True
    assert result["answered"] == 0 and result["no_answer"][refused] > 0, result
    # (A call the end of the run cut off has a reason of its own.)
    assert sum(result["no_answer"].values()) == result["unknown"] == result["calls"], result
    assert f"no answer to {result['no_answer'][refused]} calls: {refused}" in done.stdout
    assert f"join: {refused}" in done.stdout + done.stderr  # Locust's error table too


class _Refuser(BaseHTTPRequestHandler):
    """Every call refused as a sold-out service would: 409 with a code."""

    def _refuse(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"code": "sold_out", "detail": "no seat left"}).encode()
        self.send_response(409)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _refuse

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def refusing_service() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refuser)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_service_that_refuses_every_call_is_checked_nothing(tmp_path: Path) -> None:
    """Expected refusals are no failure to Locust (it would exit 0), and no answer shows a
    lobby: nothing could break, so nothing was checked."""
    with refusing_service() as host:
        done, result = locust(host, tmp_path)
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    line = verdict_line(done)
    assert (line["ok"], line["answered"], line["checked"]) == ("false", "0", "nothing"), line
    assert int(line["refused"]) > 0, line
    assert result["ok"] is False and result["checked_nothing"] is True
    assert result["refused"] > 0 and result["answered"] == 0
