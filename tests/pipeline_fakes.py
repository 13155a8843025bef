"""A stand-in for lobbycore's ScriptSet in the auto-pipeline tests (asyncio and gevent): a
call is its own command, and no reply says a script is missing."""

from __future__ import annotations

from typing import Any


class FakeScripts:
    functions = False

    def command(self, call: str) -> tuple[str]:
        return (call,)

    def missing(self, reply: Any) -> bool:
        return False
