"""`lobbysim serve` and the HTTP scenarios (locustfiles/http.py), as users run them: each
service and each Locust run in its own process, on 127.0.0.1, against the test's private
redis-server, for a few seconds. No rate is asserted."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis

from lobbysim.testing import RedisServer, free_port
from tests.cli import lobbysim

ROOT = Path(__file__).resolve().parents[2]
LOCUST = [sys.executable, "-m", "locust", "-f", str(ROOT / "locustfiles" / "http.py")]
THIRD_SERVICE = Path(__file__).with_name("third_service.py")
USERS = "500"
SECONDS = "4s"


def http(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@contextmanager
def running(command: list[str], ready: str, timeout: float = 60) -> Iterator[str]:
    """Run ``command`` until the block ends; wait until GET ``ready`` answers."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"{command[:4]} exited: {process.stdout.read() if process.stdout else ''}"
                )
            try:
                urllib.request.urlopen(ready, timeout=2).close()
                break
            except urllib.error.HTTPError:
                break  # it answers
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"{command[:4]} never answered {ready}")
                time.sleep(0.2)
        yield ready.rsplit("/", 1)[0]
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def processes(count: int) -> list[str]:
    """``--processes`` on a master port of its own (Locust's default 5557 is shared)."""
    port = str(free_port())
    return ["--processes", str(count), "--master-bind-host", "127.0.0.1",
            "--master-bind-port", port, "--master-port", port]  # fmt: skip


@pytest.fixture
def empty_server() -> Iterator[RedisServer]:
    """A server of the test's own. The naive store lists every key on each join (the
    article's KEYS), so on the session's server, full of earlier tests' keys, one naive join
    takes seconds on a busy machine and a short run would check almost nothing."""
    with RedisServer() as own:
        yield own


@contextmanager
def serve(server: RedisServer, pool: str, *options: str) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "lobbysim.cli", "serve", "--port", str(port)]
    command += ["--redis-url", server.url, "--pool", pool, *options]
    with running(command, f"http://127.0.0.1:{port}/health") as base:
        yield base


@contextmanager
def third_service(server: RedisServer, mode: str) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, str(THIRD_SERVICE), "--port", str(port)]
    command += ["--redis-url", server.url, "--mode", mode]
    with running(command, f"http://127.0.0.1:{port}/health") as base:
        yield base


def locust(
    host: str, tmp_path: Path, *extra: str, users: str = USERS
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    result_file = tmp_path / f"result-{uuid.uuid4().hex[:6]}.json"
    command = [*LOCUST, "--headless", "-u", users, "-r", users, "-t", SECONDS]
    command += ["--host", host, "--result-file", str(result_file), "--only-summary", *extra]
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, check=False)
    assert result_file.exists(), done.stderr[-3000:]
    return done, json.loads(result_file.read_text())


def assert_caught(done: subprocess.CompletedProcess[str], result: dict[str, Any]) -> None:
    assert done.returncode == 1, done.stderr[-2000:]
    assert not result["ok"]
    assert sum(result["violations"].values()) > 0
    example = result["counter_examples"][0]
    assert example["kind"] in result["violations"]
    # A counter-example is the calls that show it, with their times and answers.
    for call in example["calls"]:
        assert call["invoked"] <= (call["answered"] or float("inf"))
        assert call["kind"] in ("join", "party_join", "leave", "book", "get_lobby", "lobby_of")
    assert "lobbysim history check: ok=false" in done.stdout


def pool_keys(client: redis.Redis, pool: str) -> int:
    return sum(1 for _ in client.scan_iter(match=f"*{pool}*", count=1000))


# -- the API ------------------------------------------------------------------------------------


def test_api_answers_in_the_articles_shape_with_typed_errors(
    redis_server: RedisServer, redis_client: redis.Redis, pool_name: str
) -> None:
    with serve(redis_server, pool_name, "--seats", "3") as base:
        status, lobby = http("POST", f"{base}/lobbies/join", {"userId": "ann", "maxUsers": 2})
        assert status == 200
        assert set(lobby) == {"id", "sessionId", "users", "createdAt", "maxUsers"}
        assert lobby["users"] == ["ann"]
        assert lobby["createdAt"].isdigit()
        _, lobby = http("POST", f"{base}/lobbies/join", {"userId": "bob", "maxUsers": 2})
        assert lobby["users"] == ["ann", "bob"]
        assert http("GET", f"{base}/users/bob/lobby") == (200, lobby)
        assert http("GET", f"{base}/lobbies/{lobby['id']}") == (200, lobby)

        # Bad requests: 422 with a JSON body, and nothing written.
        keys = pool_keys(redis_client, pool_name)
        for body in (
            {"userId": "", "maxUsers": 2},
            {"userId": "cat", "maxUsers": 0},
            {"userId": "cat", "maxUsers": "2"},
            {"userId": 7},
            {"userId": "cat", "extra": 1},
        ):
            status, error = http("POST", f"{base}/lobbies/join", body)
            assert status == 422, body
            assert error["code"] == "invalid_input"
        assert http("POST", f"{base}/lobbies/join-party", {"userIds": []})[0] == 422
        assert pool_keys(redis_client, pool_name) == keys

        # Unknown lobbies and users: 404.
        status, error = http("GET", f"{base}/lobbies/01ARZ3NDEKTSV4RRFFQ69G5FAV")
        assert (status, error["code"]) == (404, "lobby_not_found")
        status, error = http("POST", f"{base}/lobbies/01ARZ3NDEKTSV4RRFFQ69G5FAV/book")
        assert (status, error["code"]) == (404, "lobby_not_found")
        assert http("GET", f"{base}/users/nobody/lobby")[1]["code"] == "not_in_lobby"

        # Booking: once; a retry with the same key gets the same booking; others a 409.
        book = f"{base}/lobbies/{lobby['id']}/book"
        status, booking = http("POST", book, headers={"Idempotency-Key": "k1"})
        assert status == 200
        assert booking["users"] == ["ann", "bob"]
        assert booking["requestId"] == "k1"
        assert http("POST", book, headers={"Idempotency-Key": "k1"}) == (200, booking)
        status, error = http("POST", book, headers={"Idempotency-Key": "k2"})
        assert (status, error["code"]) == (409, "already_booked")
        assert error["booking"] == booking

        # Sold out: 3 seats, 2 sold, a lobby of 2 asks for 2.
        for user in ("cy", "di"):
            _, second = http("POST", f"{base}/lobbies/join", {"userId": user, "maxUsers": 2})
        status, error = http("POST", f"{base}/lobbies/{second['id']}/book")
        assert (status, error["code"]) == (409, "sold_out")

        # A party naming a user already in another lobby: 409, nobody placed.
        http("POST", f"{base}/lobbies/join", {"userId": "eve", "maxUsers": 3})
        status, error = http(
            "POST", f"{base}/lobbies/join-party", {"userIds": ["fay", "cy"], "maxUsers": 3}
        )
        assert (status, error["code"]) == (409, "already_in_lobby")
        assert http("GET", f"{base}/users/fay/lobby")[0] == 404

        # Leave, stats, health, docs.
        status, left = http("POST", f"{base}/lobbies/leave", {"userId": "eve"})
        assert (status, left) == (200, {"lobby": None})
        status, stats = http("GET", f"{base}/stats")
        assert stats["bookings"] == 1
        assert stats["seatsLeft"] == 1
        assert http("GET", f"{base}/health") == (200, {"status": "ok", "pool": pool_name})
        with urllib.request.urlopen(f"{base}/openapi.json", timeout=10) as response:
            paths = json.loads(response.read())["paths"]
        assert "/lobbies/{lobby_id}/book" in paths
        with urllib.request.urlopen(f"{base}/docs", timeout=10) as response:
            assert response.status == 200


def test_serve_without_its_extra_names_it_in_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from lobbysim.cli import main

    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setitem(sys.modules, "fastapi", None)  # as if not installed
    assert main(["serve"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "pip install 'lobbysim[serve]'" in line


def test_the_parser_loads_no_web_framework() -> None:
    code = (
        "import sys; from lobbysim.cli import build_parser; build_parser(); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'lobbysim.serve', 'fastapi', 'uvicorn', 'starlette'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == "[]\n"


def test_serve_errors_are_one_line(redis_server: RedisServer) -> None:
    done = lobbysim("serve", "--workers", "2", env=None)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "--redis-url" in done.stderr
    done = lobbysim("serve", "--redis-url", "redis://:secret@127.0.0.1:1/0")
    assert done.returncode == 2
    assert "secret" not in done.stderr
    assert "Traceback" not in done.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        done = lobbysim("serve", "--redis-url", redis_server.url, "--port", port)
    assert done.returncode == 2
    assert (
        done.stderr
        == f"lobbysim: error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    )


# -- the HTTP scenarios and the history check -------------------------------------------------------


def test_atomic_service_passes_the_history_check(
    redis_server: RedisServer, pool_name: str, tmp_path: Path
) -> None:
    with serve(redis_server, pool_name, "--seats", "400") as base:
        done, result = locust(base, tmp_path, "--seats", "400")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert result["ok"], result["problems"]
    assert result["calls"] > 0
    assert result["counter_examples"] == []
    assert "lobbysim history check: ok=true" in done.stdout
    # Refusals are reported under their own names, not as failures.
    refusal = r"(book|get_lobby) \((already_booked|lobby_not_found|sold_out)\) +\d+ +0\(0\.00%\)"
    assert re.search(refusal, done.stderr + done.stdout)


def test_naive_service_fails_with_counter_examples(
    empty_server: RedisServer, pool_name: str, tmp_path: Path
) -> None:
    with serve(empty_server, pool_name, "--strategy", "naive") as base:
        done, result = locust(base, tmp_path)
    assert_caught(done, result)


def test_a_broken_third_service_is_caught(redis_server: RedisServer, tmp_path: Path) -> None:
    from tests.functional.third_service import TARGET

    target = tmp_path / "third.toml"
    target.write_text(TARGET)
    with third_service(redis_server, "broken") as base:
        done, result = locust(base, tmp_path, "--target", str(target), "--party-ratio", "0")
    assert_caught(done, result)
    assert result["violations"]["lost_join"] > 0


def test_a_correct_third_service_passes(redis_server: RedisServer, tmp_path: Path) -> None:
    from tests.functional.third_service import TARGET

    target = tmp_path / "third.toml"
    target.write_text(TARGET)
    with third_service(redis_server, "correct") as base:
        done, result = locust(base, tmp_path, "--target", str(target))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert result["ok"], result["problems"]
    assert result["calls"] > 0


def test_distributed_run_checks_every_workers_history(
    redis_server: RedisServer, empty_server: RedisServer, pool_name: str, tmp_path: Path
) -> None:
    """The master runs no users: every call it checks came from a worker's history."""
    with serve(redis_server, pool_name, "--workers", "2") as base:
        done, result = locust(base, tmp_path, *processes(2), users="100")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert result["ok"], result["problems"]
    assert result["calls"] > 0
    with serve(empty_server, f"{pool_name}-naive", "--strategy", "naive") as base:
        done, result = locust(base, tmp_path, *processes(2), users="100")
    assert_caught(done, result)


def test_a_malformed_target_is_one_line_exit_2(tmp_path: Path) -> None:
    target = tmp_path / "bad.toml"
    target.write_text('[book]\npath = "/x"\n')
    command = [*LOCUST, "--headless", "-u", "1", "-t", "1s", "--host", "http://127.0.0.1:1"]
    done = subprocess.run(
        [*command, "--target", str(target)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "lobbysim: error: --target: [join] is required" in done.stderr
    assert "Traceback" not in done.stderr


# -- the article's own keys -------------------------------------------------------------------

READS = {"scan", "hgetall", "get", "xrange", "ping", "info", "client", "hello", "select", "dbsize"}
"""Commands an audit may send (and the test's own INFO and DBSIZE)."""


def command_calls(client: redis.Redis) -> dict[str, int]:
    return {
        name.removeprefix("cmdstat_").split("|")[0]: stats["calls"]
        for name, stats in client.info("commandstats").items()
    }


def keys_ever_held(client: redis.Redis) -> int:
    """Keys now, plus those Redis has expired so far: a count that expiry cannot move (the
    shared server holds earlier tests' keys with expiries, and one expired during an audit)."""
    return int(client.dbsize()) + int(client.info("stats")["expired_keys"])


def audit_read_only(client: redis.Redis, *args: str) -> subprocess.CompletedProcess[str]:
    """``lobbysim audit`` run with every command it sends counted: reads only, no KEYS."""
    before, size = command_calls(client), keys_ever_held(client)
    done = lobbysim("audit", *args)
    after = command_calls(client)
    sent = {name for name, calls in after.items() if calls > before.get(name, 0)}
    assert sent <= READS, sent - READS
    assert keys_ever_held(client) == size  # no key made or deleted by the audit
    return done


def test_article_layout_audit_of_keys_written_as_the_article_does(
    redis_server: RedisServer, redis_client: redis.Redis, pool_name: str
) -> None:
    """A team's Redis, filled by the article's service: its four fields, no size recorded."""
    lobbies = {"01A": ["ann", "bob"], "01B": ["bob", "cy", "di"], "01C": ["eve"]}
    for lobby_id, users in lobbies.items():
        redis_client.hset(
            f"lobby:{pool_name}:{lobby_id}",
            mapping={
                "id": lobby_id,
                "sessionId": f"s{lobby_id}",
                "users": json.dumps(users),
                "createdAt": "1700000000000",
            },
        )
    redis_client.hset(f"lobby:{pool_name}:x:01D", mapping={"users": '["zed","zed"]'})  # pool "…:x"
    url = redis_server.url
    done = audit_read_only(
        redis_client, "--redis-url", url, "--layout", "article", "--prefix", pool_name,
        "--max-users", "2",
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "over_capacity: lobby 01B holds 3/2" in done.stdout
    assert "user_in_two_lobbies: user 'bob' is in lobbies ['01A', '01B']" in done.stdout
    assert "zed" not in done.stdout
    assert "lobbies=3" in done.stdout
    # Without a size, capacity cannot be judged; the rest still is.
    done = audit_read_only(
        redis_client, "--redis-url", url, "--layout", "article", "--prefix", pool_name
    )
    assert done.returncode == 1
    assert "over_capacity=0" in done.stdout and "user_in_two_lobbies=1" in done.stdout
    done = lobbysim("audit", "--redis-url", url, "--layout", "article")
    assert done.returncode == 2 and "--prefix" in done.stderr


def test_article_layout_audit_finds_what_the_naive_service_broke(
    empty_server: RedisServer, pool_name: str, tmp_path: Path
) -> None:
    redis_client = empty_server.client()
    with serve(empty_server, pool_name, "--strategy", "naive") as base:
        locust(base, tmp_path, "--leave-ratio", "0")
    keys = [k.decode() for k in redis_client.scan_iter(match=f"lobby:{pool_name}:*")]
    assert keys, "the naive service writes the article's keys"
    # The article's four fields (a booking racing a join can leave a hash with "users"
    # alone: the naive store's own race, so look at every lobby, not the first).
    article = {b"id", b"sessionId", b"users", b"createdAt"}
    assert any(article <= set(redis_client.hgetall(key)) for key in keys)
    done = audit_read_only(
        redis_client, "--redis-url", empty_server.url, "--layout", "article", "--prefix", pool_name
    )
    assert done.returncode == 1, done.stdout
    assert "ok=false" in done.stdout


# -- the dashboard ------------------------------------------------------------------------------


def test_watch_follows_a_pool_loaded_through_serve(
    redis_server: RedisServer, pool_name: str, tmp_path: Path
) -> None:
    with serve(redis_server, pool_name) as base:
        watch = ["watch", "--headless", "--duration", "10", "--redis-url", redis_server.url]
        watcher = subprocess.Popen(
            [sys.executable, "-m", "lobbysim.cli", *watch, "--pool", pool_name],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(1.5)  # the watcher's first read
        done, result = locust(base, tmp_path, users="50")
        out, err = watcher.communicate(timeout=90)
    assert done.returncode == 0 and result["ok"]
    assert watcher.returncode == 0, err
    values = dict(part.split("=", 1) for part in out.strip().splitlines()[-1].split())
    assert int(values["joins"]) > 10
    assert int(values["bookings"]) > 5
    assert values["violations"] == "0"
