"""HTTP scenarios against any lobby service, with a history checker.

    locust -f locustfiles/http.py --headless -u 500 -r 250 -t 30s \\
        --host http://127.0.0.1:8000 --result-file out/http.json

With no ``--target``, the routes are ``lobbysim serve``'s; for another service, describe
its API in a TOML file (see locustfiles/http_target.py) and pass ``--target FILE``.

Each simulated buyer joins a lobby (sometimes as a party of two), waits for it to fill by
reading it, then books it (every member tries, each with its own idempotency key: one
must win) or, sometimes, leaves. Refusals the API is expected to give (404, 409) are
counted under their own names ("book (already_booked)"), not as failures.

Every call is recorded with its invocation and answer times, and at the end the whole
history is checked from the answers alone (lobbysim.checks.answers): no Redis access, so the
service may be anyone's. In a distributed run each worker sends its history to the master,
which checks the union. Any broken guarantee exits 1 and lands, with the first few
counter-examples (the calls, with their times), in ``--result-file``. So does a run none of
whose calls was answered (``checked=nothing``: no call, every one refused, or the service
unreachable), with why the calls got no answer (``connection refused to 127.0.0.1:8000``).
"""

from __future__ import annotations

import json
import logging
import random
import re
import socket
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import gevent
from locust import constant, events, task
from locust.contrib.fasthttp import FastHttpUser
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from lobbycore import InvalidInput
from lobbycore.violations import Verdict, Violation
from lobbysim.checks.answers import check_answers
from lobbysim.checks.calls import FAIL, OK, UNKNOWN, Call, interned, unanswered
from lobbysim.run.options import add_to_locust, validate
from locustfiles import loop_clock
from locustfiles.http_target import Target, TargetError, dig, load_target

log = logging.getLogger("lobbysim")

POLL_SECONDS = 0.05
FILL_TIMEOUT_SECONDS = 2.0
CHUNK = 2000
"""Calls per message from a worker to the master."""
COLLECT_TIMEOUT_SECONDS = 60.0
EXAMPLES = 5
"""Counter-examples written to the result file (and printed)."""
CODE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,39}")
"""What a refusal's code looks like (``already_booked``, ``SOLD_OUT``)."""
MSG_CALLS, MSG_DONE, MSG_STOP = "lobbysim_http_calls", "lobbysim_http_done", "lobbysim_http_stop"


def _fail(message: str) -> NoReturn:
    sys.stderr.write(f"lobbysim: error: {message}\n")
    raise SystemExit(2)


@events.init_command_line_parser.add_listener
def _add_options(parser: Any) -> None:
    group = parser.add_argument_group("lobby service (lobbysim)")
    group.add_argument(
        "--target",
        default="",
        help="TOML description of the service's API (default: lobbysim serve's)",
    )
    add_to_locust(
        group,
        ["max_users", "seats"],
        help={
            "seats": "the inventory the service holds, or unlimited: more seats booked is an "
            "oversell (default unlimited)"
        },
        aliases={"max_users": ("--lobby-size",)},
    )
    group.add_argument("--leave-ratio", type=float, default=0.1, help="buyers who leave")
    group.add_argument("--party-ratio", type=float, default=0.1, help="buyers in a party of 2")
    group.add_argument(
        "--joins-only", action="store_true", help="each buyer joins and is done (a join storm)"
    )
    group.add_argument("--result-file", default="", help="write the verdict here (JSON)")
    group.add_argument("--history-file", default="", help="write every call here (JSON lines)")


@dataclass
class _Run:
    """This process's part of the run: its settings and its history."""

    target: Target
    size: int
    seats: int | None
    leave_ratio: float
    party_ratio: float
    joins_only: bool
    result_file: Path | None
    history_file: Path | None
    calls: list[Call] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    sent: bool = False
    from_workers: list[Call] = field(default_factory=list)
    workers_done: set[str] = field(default_factory=set)

    def begin(self, call: Call) -> int:
        """Record a call as invoked (unknown until answered): a call cut off by the end of
        the run stays in the history as unanswered, since it may have taken effect."""
        self.calls.append(call)
        return len(self.calls) - 1


_runs: dict[int, _Run] = {}


def _settings(environment: Environment) -> _Run:
    options = environment.parsed_options
    assert options is not None
    try:
        target = load_target(options.target)
    except TargetError as exc:
        _fail(f"--target: {exc}")
    try:
        run = validate({"max_users": options.max_users, "seats": options.seats})
    except InvalidInput as exc:
        _fail(str(exc))
    for name in ("leave_ratio", "party_ratio"):
        if not 0.0 <= getattr(options, name) <= 1.0:
            _fail(f"--{name.replace('_', '-')} must be in [0, 1]")
    files = {}
    for name in ("result_file", "history_file"):
        value = getattr(options, name)
        path = Path(value) if value else None
        if path is not None and not path.parent.is_dir():
            _fail(f"--{name.replace('_', '-')}: no folder {str(path.parent)!r}")
        files[name] = path
    return _Run(
        target,
        run.max_users,
        run.seats,
        options.leave_ratio,
        options.party_ratio,
        options.joins_only,
        files["result_file"],
        files["history_file"],
    )


def _run_of(environment: Environment) -> _Run:
    run = _runs.get(id(environment))
    if run is None:  # a worker: the master's options arrived with the first spawn
        run = _runs[id(environment)] = _settings(environment)
    return run


@events.init.add_listener
def _on_init(environment: Environment, **_kwargs: Any) -> None:
    if environment.parsed_options is None or not hasattr(environment.parsed_options, "target"):
        return
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        runner.register_message(MSG_CALLS, _on_calls)
        runner.register_message(MSG_DONE, _on_done)
    elif isinstance(runner, WorkerRunner):
        runner.register_message(MSG_STOP, _on_stop_request)
        return
    _runs[id(environment)] = _settings(environment)


events.init.add_listener(loop_clock.catch_up)  # after the listener above, which may block


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_kwargs: Any) -> None:
    run = _run_of(environment)
    run.calls.clear()
    run.from_workers.clear()
    run.workers_done.clear()
    run.sent = False
    run.started = time.time()


class LobbyBuyer(FastHttpUser):
    """One buyer after another: join, wait for the lobby to fill, book it (or leave)."""

    wait_time = constant(0)
    network_timeout = 10.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        self.state = _run_of(self.environment)
        self.target = self.state.target

    @task
    def buy(self) -> None:
        run, target = self.state, self.target
        user = f"buyer-{uuid.uuid4().hex[:20]}"
        if target.route("party_join") and run.size >= 2 and random.random() < run.party_ratio:
            users = (user, f"buyer-{uuid.uuid4().hex[:20]}")
            call = self._call("party_join", users, size=run.size)
        else:
            call = self._call("join", (user,), size=run.size)
        if call.outcome != OK or call.lobby_id is None or run.joins_only:
            return
        if target.route("leave") and random.random() < run.leave_ratio:
            gevent.sleep(random.uniform(0, POLL_SECONDS))
            self._call("leave", (user,))
            return
        deadline = time.monotonic() + FILL_TIMEOUT_SECONDS
        while len(call.lobby_users or ()) < run.size and time.monotonic() < deadline:
            gevent.sleep(POLL_SECONDS)
            if target.route("get_lobby"):
                call = self._call("get_lobby", (user,), lobby=call.lobby_id)
            elif target.route("lobby_of"):
                call = self._call("lobby_of", (user,))
            else:
                break
            if call.outcome != OK or call.lobby_id is None:
                return  # booked by another member, or gone
        if len(call.lobby_users or ()) >= run.size and target.route("book"):
            self._call("book", (user,), lobby=call.lobby_id, key=uuid.uuid4().hex)
        elif target.route("leave"):
            self._call("leave", (user,))  # gave up waiting

    def _call(
        self,
        kind: str,
        users: tuple[str, ...],
        *,
        lobby: str | None = None,
        size: int | None = None,
        key: str | None = None,
    ) -> Call:
        """Make one call, report it to Locust under its outcome's name, and record it."""
        route = self.target.route(kind)
        assert route is not None
        values = {"user": users[0], "users": list(users), "lobby": lobby or "", "size": size}
        headers = {route.idempotency_header: key} if key and route.idempotency_header else None
        call = Call(kind, interned(users), time.time(), None, UNKNOWN, None, lobby, None, size, key)
        index = self.state.begin(call)
        with self.client.request(
            route.method,
            route.url(**values),
            json=route.json(**values),
            headers=headers,
            name=kind,
            catch_response=True,
        ) as response:
            call = self._answer(call, response, time.time())
        self.state.calls[index] = call
        return call

    def _answer(self, call: Call, response: Any, answered: float) -> Call:
        target, status = self.target, int(response.status_code or 0)
        try:
            body = json.loads(response.content or b"null")
        except ValueError:
            body = None
        call = replace(call, status=status or None)
        if 200 <= status < 300:
            if call.kind == "leave":
                response.success()
                return replace(call, answered=answered, outcome=OK)
            if call.kind == "book":
                route = target.route("book")
                assert route is not None
                users = dig(body, route.users) if route.users else None
                booked = interned(str(u) for u in users) if isinstance(users, list) else None
                response.success()
                return replace(call, answered=answered, outcome=OK, lobby_users=booked)
            lobby = target.lobby.read(body)
            if lobby is None:
                response.failure(f"{call.kind}: {NO_LOBBY}")
                return replace(call, error=NO_LOBBY)  # it may have taken effect: unknown
            lobby_id, lobby_users, size = lobby
            response.success()
            return replace(
                call,
                answered=answered,
                outcome=OK,
                lobby_id=lobby_id,
                lobby_users=lobby_users,
                size=size or call.size,
            )
        if status in (404, 409):
            code = dig(body, target.code_field)
            # A code names a kind of refusal; a message naming the lobby would make one
            # Locust row per lobby, so anything but a short identifier reads as the status.
            code = code if isinstance(code, str) and CODE.fullmatch(code) else str(status)
            if status == 404 and call.kind == "get_lobby":
                code = "lobby_not_found"
            elif status == 404 and call.kind == "lobby_of":
                code = "not_in_lobby"
            elif code == target.already_booked:
                code = "already_booked"
            response.request_meta["name"] = f"{call.kind} ({code})"
            response.success()  # an expected refusal
            return replace(call, answered=answered, outcome=FAIL, code=code)
        if 400 <= status < 500:  # refused as malformed: nothing changed
            response.failure(f"{call.kind}: HTTP {status}")
            return replace(call, answered=answered, outcome=FAIL, code=str(status))
        reason = sys.intern(f"HTTP {status}" if status else _no_answer(response))
        response.failure(f"{call.kind}: {reason}")
        return replace(call, error=reason)  # a server error or no answer: unknown


NO_LOBBY = "the answer shows no lobby"


def _no_answer(response: Any) -> str:
    """Why a call got no answer, naming the server it was sent to (host and port only: never
    credentials), so that the error table and the verdict say 'connection refused to
    127.0.0.1:8000' rather than 'no answer'."""
    error = getattr(response, "error", None)
    url = urlsplit(str(getattr(getattr(response, "request", None), "url", "") or ""))
    server = f"{url.hostname}:{url.port or (443 if url.scheme == 'https' else 80)}"
    if isinstance(error, ConnectionRefusedError):
        return f"connection refused to {server}"
    if isinstance(error, ConnectionResetError):
        return f"connection reset by {server}"
    if isinstance(error, TimeoutError | gevent.Timeout):
        return f"no answer in time from {server}"
    if isinstance(error, socket.gaierror):
        return f"cannot resolve {url.hostname}"
    if error is None:
        return f"no answer from {server}"
    text = " ".join(str(error).split())[:120]
    return f"{type(error).__name__}{': ' + text if text else ''} ({server})"


# -- collecting and checking the history ------------------------------------------------------


def _send_history(environment: Environment) -> None:
    """A worker's history, to the master (once per test)."""
    run = _run_of(environment)
    if run.sent:
        return
    run.sent = True
    runner = environment.runner
    assert runner is not None
    dicts = [call.to_dict() for call in run.calls]
    for start in range(0, len(dicts), CHUNK):
        runner.send_message(MSG_CALLS, {"calls": dicts[start : start + CHUNK]})
    runner.send_message(MSG_DONE, {"calls": len(dicts)})


def _on_stop_request(environment: Environment, msg: Any, **_kwargs: Any) -> None:
    """The master wants the history now: stop the users (so no call is in flight), send it."""
    runner = environment.runner
    assert runner is not None
    runner.stop()
    _send_history(environment)


def _on_calls(environment: Environment, msg: Any, **_kwargs: Any) -> None:
    _run_of(environment).from_workers.extend(Call.from_dict(c) for c in msg.data["calls"])


def _on_done(environment: Environment, msg: Any, **_kwargs: Any) -> None:
    _run_of(environment).workers_done.add(msg.node_id)


@events.test_stop.add_listener
def _on_test_stop(environment: Environment, **_kwargs: Any) -> None:
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        _send_history(environment)
    elif isinstance(runner, MasterRunner):
        _collect(environment, runner)


def _collect(environment: Environment, runner: MasterRunner) -> None:
    """Ask every worker for its history and wait for all of it (bounded)."""
    run = _run_of(environment)
    workers = [client.id for client in runner.clients.all]
    for worker in workers:
        if worker not in run.workers_done:
            runner.send_message(MSG_STOP, None, client_id=worker)
    deadline = time.monotonic() + COLLECT_TIMEOUT_SECONDS
    while not run.workers_done.issuperset(workers) and time.monotonic() < deadline:
        gevent.sleep(0.1)
    missing = set(workers) - run.workers_done
    if missing:
        log.error("lobbysim: no history from %d worker(s); the check is partial", len(missing))


@events.quitting.add_listener
def _check_at_exit(environment: Environment, **_kwargs: Any) -> None:
    """The verdict, before Locust picks its exit code (master or local run)."""
    if isinstance(environment.runner, WorkerRunner) or id(environment) not in _runs:
        return
    run = _run_of(environment)
    calls = run.calls + run.from_workers
    clock = time.perf_counter()
    report = check_answers(
        calls, seats=run.seats, lobby_ttl=run.target.lobby_ttl, started=run.started
    )
    took = time.perf_counter() - clock
    no_answer = unanswered(calls)
    _print(report, took, no_answer)
    if run.history_file is not None:
        with run.history_file.open("w", encoding="utf-8") as out:
            for call in calls:
                out.write(json.dumps(call.to_dict()) + "\n")
    if run.result_file is not None:
        result = _result(report, took, no_answer)
        run.result_file.write_text(json.dumps(result, indent=2) + "\n")
    if not report.ok:
        environment.process_exit_code = 1


def _print(verdict: Verdict, took: float, no_answer: Counter[str]) -> None:
    for finding in verdict.findings[:EXAMPLES]:
        print(f"  {finding}"[:300])
        for call in finding.calls:
            print(f"      {call.describe()}"[:300])
    if len(verdict.findings) > EXAMPLES:
        print(f"  ... and {len(verdict.findings) - EXAMPLES} more")
    # Why calls went unanswered: with checked=nothing, why nothing could be checked.
    for reason, count in no_answer.most_common(EXAMPLES):
        print(f"  no answer to {count} calls: {reason}"[:300])
    print(f"lobbysim history check: {verdict.summary(Violation)} check_seconds={took:.3f}")
    sys.stdout.flush()


def _result(verdict: Verdict, took: float, no_answer: Counter[str]) -> dict[str, Any]:
    counts = verdict.counts()
    calls = verdict.figures["calls"]
    return {
        "ok": verdict.ok,
        "violations": {str(kind): counts.get(kind, 0) for kind in Violation},
        "problems": [str(finding) for finding in verdict.findings[:20]],
        "counter_examples": [finding.to_dict() for finding in verdict.findings[:EXAMPLES]],
        "calls": calls,
        "unknown": verdict.figures["unknown"],
        "answered": verdict.figures["answered"],
        "refused": verdict.figures["refused"],
        "checked_nothing": verdict.checked_nothing,
        "no_answer": dict(no_answer.most_common(20)),
        "check_seconds": round(took, 6),
        "calls_checked_per_second": round(calls / took) if took > 0 else None,
    }
