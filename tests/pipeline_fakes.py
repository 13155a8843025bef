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
    """A call sent as ``EVALSHA <sha> 0 <name>``, whose result is its reply as it came."""
    return ScriptCall("join", (), (name,), _as_is)
