"""lobbycore's asyncio auto-pipeline: how many round trips it keeps in flight, how large, and
that no call is left waiting. A fake client stands in for Redis: it answers every round trip
in flight at once, on a tick (as one poll of the sockets can find several replies), and
records what was in flight."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import lobbycore._pipeline
from lobbycore._pipeline import MAX_BATCH, SENDERS, AutoPipeline
from tests.pipeline_fakes import RegistersScripts, call, ran

ROUND_TRIP_SECONDS = 0.01


class FakePipeline:
    def __init__(self, client: FakeClient) -> None:
        self.client = client
        self.stack: list[tuple[Any, ...]] = []

    def execute_command(self, *args: Any) -> None:
        self.stack.append(args)

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        client = self.client
        client.batches.append(len(self.stack))
        client.in_flight += 1
        client.most_in_flight = max(client.most_in_flight, client.in_flight)
        answered = asyncio.get_running_loop().create_future()
        client.waiting.append(answered)
        try:
            await answered
        finally:
            client.in_flight -= 1
        return [ran(f"reply to {args[-2]}") for args in self.stack]


class FakeClient(RegistersScripts):
    def __init__(self) -> None:
        self.batches: list[int] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.waiting: list[asyncio.Future[None]] = []

    async def answer_on_ticks(self) -> None:
        """Answers every round trip in flight, each ROUND_TRIP_SECONDS."""
        while True:
            await asyncio.sleep(ROUND_TRIP_SECONDS)
            waiting, self.waiting = self.waiting, []
            for answered in waiting:
                answered.set_result(None)

    def pipeline(self, transaction: bool = True) -> FakePipeline:
        return FakePipeline(self)


def test_batches_are_capped_and_at_most_senders_are_in_flight() -> None:
    client = FakeClient()
    pipeline = AutoPipeline(client)

    async def scenario() -> list[Any]:
        ticks = asyncio.create_task(client.answer_on_ticks())
        calls = [call(f"call-{i}") for i in range(10 * MAX_BATCH)]
        try:
            return await asyncio.gather(*map(pipeline.send, calls))
        finally:
            ticks.cancel()

    replies = asyncio.run(scenario())
    assert replies == [f"reply to call-{i}" for i in range(10 * MAX_BATCH)]
    assert sum(client.batches) == 10 * MAX_BATCH
    assert max(client.batches) == MAX_BATCH
    assert client.most_in_flight == SENDERS


@pytest.mark.parametrize("senders", sorted({1, SENDERS}))
@pytest.mark.parametrize("callers", [1, 2, SENDERS * MAX_BATCH, 3 * MAX_BATCH])
def test_callers_woken_by_the_last_batch_are_still_sent(
    callers: int, senders: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Callers that each make call after call: the replies of a sender's last batch wake
    them, and they queue their next calls before that sender's task has ended. Those calls
    must still go out, whatever the number of senders (a sender counted as busy until its
    task's done-callback ran left them waiting forever)."""
    monkeypatch.setattr(lobbycore._pipeline, "SENDERS", senders)
    client = FakeClient()
    pipeline = AutoPipeline(client)

    async def caller(name: str) -> int:
        for i in range(20):
            assert await pipeline.send(call(f"{name}-{i}")) == f"reply to {name}-{i}"
        return 20

    async def scenario() -> list[int]:
        ticks = asyncio.create_task(client.answer_on_ticks())
        try:
            return await asyncio.wait_for(
                asyncio.gather(*(caller(f"c{n}") for n in range(callers))), timeout=30
            )
        finally:
            ticks.cancel()

    assert asyncio.run(scenario()) == [20] * callers
    assert sum(client.batches) == 20 * callers
    assert client.most_in_flight <= senders
