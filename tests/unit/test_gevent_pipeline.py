"""The Locust client's gevent auto-pipeline when Locust stops a user mid-call.

Locust's graceful stop kills a user it saw pausing between tasks; that pause may already be
over, so the kill can land while the user waits for a call that has gone out. The call runs
anyway, so the user must still get (and report) its answer, or the run's count of placements
falls one short of the server's. Plain gevent, no monkey-patching: fake connections stand in
for Redis, and their replies come after a short gevent sleep.
"""

from __future__ import annotations

from typing import Any

import gevent
import pytest
from gevent import GreenletExit
from redis.exceptions import ResponseError

from lobbycore import ServerRefused, Transport
from locustfiles.pipeline import MAX_BATCH, GeventAutoPipeline
from tests.pipeline_fakes import RegistersScripts, call, ran

ROUND_TRIP_SECONDS = 0.05


class FakeConnection:
    def __init__(self, log: list[bytes], errors: list[Exception]) -> None:
        self.log = log
        self.errors = errors
        self.retry = self

    def call_with_retry(self, do: Any, fail: Any) -> Any:
        return do()

    def send_packed_command(self, packed: list[bytes], check_health: bool = True) -> None:
        self.log.append(b"".join(packed))

    def read_response(self) -> Any:
        gevent.sleep(ROUND_TRIP_SECONDS)
        if self.errors:  # the next error reply the test asked for
            raise self.errors.pop(0)
        return ran(b"answer")


class FakePool:
    def __init__(self, log: list[bytes]) -> None:
        self.log = log
        self.errors: list[Exception] = []

    def get_connection(self) -> FakeConnection:
        return FakeConnection(self.log, self.errors)

    def release(self, connection: FakeConnection) -> None:
        pass


class FakeClient(RegistersScripts):
    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.connection_pool = FakePool(self.sent)


def new_pipeline() -> tuple[GeventAutoPipeline, FakeClient]:
    client = FakeClient()
    return GeventAutoPipeline(client, connections=1), client  # type: ignore[arg-type]


def user(pipeline: GeventAutoPipeline, name: str, reported: list[Any], paused: list[str]) -> None:
    """A Locust user in miniature: one call, report it, pause between tasks, and again."""
    reported.append(pipeline.send(call(name)))
    paused.append(name)
    gevent.sleep(0)  # the pause between tasks, where a stop lands
    reported.append(pipeline.send(call(name + "-again")))


def test_a_user_stopped_after_its_call_went_out_gets_and_reports_the_answer_then_stops() -> None:
    pipeline, client = new_pipeline()
    reported: list[Any] = []
    paused: list[str] = []
    caller = gevent.spawn(user, pipeline, "JOIN", reported, paused)
    gevent.sleep(ROUND_TRIP_SECONDS / 5)  # the batch is out, its reply not yet in
    assert len(client.sent) == 1 and reported == []
    caller.kill(block=True)
    assert reported == [b"answer"]  # the call that ran was answered and reported
    assert paused == ["JOIN"]  # ...and the stop landed at the next pause: no second call
    assert caller.dead and isinstance(caller.value, GreenletExit)
    assert len(client.sent) == 1
    assert pipeline.unanswered == 0
    assert pipeline.drain(timeout=5)


def test_a_user_stopped_before_its_call_went_out_sends_nothing() -> None:
    pipeline, client = new_pipeline()  # one connection: a second call waits for the next batch
    reported: list[Any] = []
    first = gevent.spawn(user, pipeline, "FIRST", reported, [])
    gevent.sleep(ROUND_TRIP_SECONDS / 5)  # FIRST is out, its reply not yet in
    queued = gevent.spawn(user, pipeline, "QUEUED", reported, [])
    gevent.sleep(0)
    queued.kill(block=True)  # QUEUED waits for the next batch
    first.kill(block=True)
    assert pipeline.drain(timeout=5)
    assert len(client.sent) == 1 and b"FIRST" in client.sent[0]
    assert not any(b"QUEUED" in batch for batch in client.sent)  # it never went out
    assert reported == [b"answer"] and pipeline.unanswered == 0


def test_a_user_forced_to_stop_twice_while_its_call_is_out_counts_as_unanswered() -> None:
    pipeline, client = new_pipeline()
    reported: list[Any] = []
    caller = gevent.spawn(user, pipeline, "JOIN", reported, [])
    gevent.sleep(ROUND_TRIP_SECONDS / 5)
    caller.kill(block=False)
    gevent.sleep(0)
    caller.kill(block=True)  # the forced kill after --stop-timeout
    assert len(client.sent) == 1 and reported == []
    assert pipeline.unanswered == 1  # it may have run; nobody reported it
    assert pipeline.drain(timeout=5)


@pytest.mark.parametrize("users", [50])
def test_many_users_stopped_at_random_moments_report_every_call_that_went_out(users: int) -> None:
    pipeline, client = new_pipeline()
    reported: list[Any] = []
    callers = [gevent.spawn(user, pipeline, f"J{i}", reported, []) for i in range(users)]
    for i, caller in enumerate(callers):
        gevent.sleep(ROUND_TRIP_SECONDS * (i % 7) / 7)
        caller.kill(block=False)
    gevent.joinall(callers, timeout=10)
    assert pipeline.drain(timeout=5)
    assert all(caller.dead for caller in callers)
    calls_sent = sum(batch.count(b"\r\nJ") for batch in client.sent)
    assert calls_sent == len(reported) > 0  # every call that went out was reported
    assert pipeline.unanswered == 0


def calls(n: int) -> list[Any]:
    return [call(f"J{i}") for i in range(n)]


def test_a_crowd_of_callers_goes_out_in_capped_batches_and_every_one_is_answered() -> None:
    # Users woken by one batch's replies call again together; a capped batch lets the next
    # one go out while the last one's replies are handled (pipeline.MAX_BATCH says why).
    client = FakeClient()
    pipeline = GeventAutoPipeline(client, connections=2)  # type: ignore[arg-type]
    answers: list[Any] = []
    callers = [gevent.spawn(lambda c=c: answers.append(pipeline.send(c))) for c in calls(40)]
    gevent.joinall(callers, timeout=10)
    assert answers == [b"answer"] * 40
    sizes = [batch.count(b"EVALSHA") for batch in client.sent]
    assert sum(sizes) == 40 and max(sizes) == MAX_BATCH and len(sizes) >= 3


def test_a_flushed_function_is_sent_again_once_as_eval_with_the_library_reload() -> None:
    pipeline, client = new_pipeline()
    pipeline.sender.note_load(None)  # calls go out as FCALL
    client.connection_pool.errors.append(ResponseError("ERR Function not found"))
    assert pipeline.send(call("J1")) == b"answer"
    first, again = client.sent  # the FCALL, then one round trip: reload and EVAL
    assert first.startswith(b"*6\r\n$5\r\nFCALL\r\n")
    assert again.startswith(b"*4\r\n$8\r\nFUNCTION\r\n$4\r\nLOAD\r\n$7\r\nREPLACE\r\n")
    assert again.count(b"$4\r\nEVAL\r\n") == 1 and again.endswith(b"$2\r\nJ1\r\n$1\r\n0\r\n")
    assert isinstance(pipeline, Transport)


def test_an_error_reply_is_a_typed_error_and_is_not_sent_again() -> None:
    pipeline, client = new_pipeline()
    refusal = ResponseError("OOM command not allowed when used memory > 'maxmemory'.")
    client.connection_pool.errors.append(refusal)
    with pytest.raises(ServerRefused, match="OOM") as raised:
        pipeline.send(call("J1"))
    assert raised.value.__cause__ is refusal and raised.value.code == "OOM"
    assert len(client.sent) == 1
