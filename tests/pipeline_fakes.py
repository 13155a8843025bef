"""Stand-ins for the auto-pipeline tests (asyncio and gevent): a client's script registry
(the sender's EVALSHA digests) and script calls told apart by their one argument."""

from __future__ import annotations

from typing import Any

from lobbycore.transport import ScriptCall

SHA = "0" * 40


class FakeScript:
    """What ``register_script`` gives: a digest and the source."""

    def __init__(self, source: str) -> None:
        self.script = source
        self.sha = SHA


class RegistersScripts:
    """The part of a redis-py client a ScriptSender reads."""

    def register_script(self, source: str) -> FakeScript:
        return FakeScript(source)


def _as_is(reply: Any) -> Any:
    return reply


def call(name: str) -> ScriptCall[Any]:
    """A call sent as ``EVALSHA <sha> 1 k <name> 0``, whose result is the answer in its reply
    as it came (see :func:`ran`). Its floor (ARGV[2]) is 0: any write sequence passes."""
    return ScriptCall("join", ("k",), (name, 0), _as_is)


def ran(answer: Any) -> list[Any]:
    """A script's reply: the pool's write sequence, then the answer."""
    return [1, answer]
