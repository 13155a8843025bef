"""The Lua script set, read from the package's ``lua/`` folder, and its commands.

Each operation is ``common.lua`` followed by the operation's own file, so the shared helpers
(indexes, expiry, events) are written once and every operation stays one command. Where the
server has Redis Functions (7.0+), the operations are one function library, loaded once:
its helpers are made when it loads, not on every call as a script's are (about a fifth of a
join's server time). Elsewhere (Redis 6.2, ACLs without FUNCTION) they run as scripts.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib.resources import files
from typing import Any, NamedTuple

from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster
from redis.exceptions import NoScriptError, ResponseError

from ._protocol import ScriptCall

SCRIPT_NAMES = ("open", "join", "leave", "book", "lookup", "stats", "sweep", "seats", "events")
# Operations that never write: flagged no-writes in the library, so that they still answer
# when the server is over maxmemory (a function without that flag is then refused).
READ_ONLY = frozenset({"lookup", "stats", "events"})

# common.lua keeps a call's KEYS and ARGV in locals of its own (see its header), so a
# script hands it the globals EVAL sets, taken before common.lua shadows them.
_SCRIPT_HEAD = "local EVAL_KEYS, EVAL_ARGV = KEYS, ARGV\n"
_SCRIPT_TAIL = "\nreturn run(main, EVAL_KEYS, EVAL_ARGV)\n"
# The error of an FCALL whose function the server does not have (FUNCTION FLUSH, a server
# restarted without persistence): like NOSCRIPT, the call did not run.
FUNCTION_NOT_FOUND = "function not found"


def _read(name: str) -> str:
    return files(__package__).joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")


@cache
def script_sources() -> dict[str, str]:
    """Script name -> full Lua source (prelude + body)."""
    common = _read("common")
    return {
        name: f"{_SCRIPT_HEAD}{common}\n-- ---- {name}.lua ----\n{_read(name)}{_SCRIPT_TAIL}"
        for name in SCRIPT_NAMES
    }


class Library(NamedTuple):
    """The function library: its source and the function name of each operation."""

    source: str
    functions: dict[str, str]


@cache
def library() -> Library:
    """Every operation as one Redis Function library. Its name carries a digest of the
    source, so versions of lobbycore sharing a server each call their own. A writing
    function has no flags: it is refused up front when the server is over ``maxmemory``
    (before any write), and every key must be in the slot of KEYS[1] (the pool's hash
    tag); a reading one is flagged no-writes (see READ_ONLY)."""
    common = _read("common")
    digest = hashlib.sha1(
        "\0".join([common, *map(_read, SCRIPT_NAMES)]).encode(), usedforsecurity=False
    ).hexdigest()[:12]
    prefix = f"lobbycore_{digest}"
    functions = {name: f"{prefix}_{name}" for name in SCRIPT_NAMES}
    parts = [f"#!lua name={prefix}\n", common]
    for name in SCRIPT_NAMES:
        flags = "{'no-writes'}" if name in READ_ONLY else "{}"
        parts.append(
            f"\ndo\n-- ---- {name}.lua ----\n{_read(name)}\n"
            f"redis.register_function{{function_name = '{functions[name]}', flags = {flags},"
            " callback = function(keys, args) return run(main, keys, args) end}\nend\n"
        )
    return Library("".join(parts), functions)


class ScriptSet:
    """The commands of a store's operations (chosen between by
    :class:`lobbycore.transport.ScriptSender`): FCALL of the library's functions once
    :meth:`note_load` saw the library loaded (not on a cluster client: see ``cluster``),
    else EVALSHA of the registered scripts; and,
    for a call the server could not run for want of its function or script, the EVAL that
    runs it anyway (EVAL cannot fail that way)."""

    __slots__ = ("cluster", "functions", "scripts")

    def __init__(self, client: Any) -> None:
        # register_script gives a redis-py Script or AsyncScript: its sha and source.
        self.scripts = {name: client.register_script(src) for name, src in script_sources().items()}
        self.functions = False
        # redis-py's cluster clients find FCALL's keys by asking a node (COMMAND GETKEYS, a
        # round trip more per call: measured 2 per join, and about 4x the Locust CPU per
        # join) but read EVALSHA's themselves; so a cluster gets EVALSHA.
        self.cluster = isinstance(client, (RedisCluster, AsyncRedisCluster))

    def command(self, call: ScriptCall[Any]) -> tuple[Any, ...]:
        if self.functions:
            name = library().functions[call.script]
            return ("FCALL", name, len(call.keys), *call.keys, *call.args)
        sha = self.scripts[call.script].sha
        return ("EVALSHA", sha, len(call.keys), *call.keys, *call.args)

    def fallback(self, call: ScriptCall[Any]) -> tuple[Any, ...]:
        source = self.scripts[call.script].script
        return ("EVAL", source, len(call.keys), *call.keys, *call.args)

    @staticmethod
    def missing(reply: object) -> bool:
        """Whether a reply (or the error raised) says the server lacks the script or the
        function: the call did not run."""
        if isinstance(reply, NoScriptError):
            return True
        return isinstance(reply, ResponseError) and FUNCTION_NOT_FOUND in str(reply).lower()

    def note_load(self, error: ResponseError | None) -> None:
        """The outcome of loading the library (FUNCTION LOAD, without REPLACE): loaded, or
        already there, means functions; any other refusal (no FUNCTION command, ACL) means
        scripts."""
        loaded = error is None or "already exists" in str(error).lower()
        self.functions = loaded and not self.cluster
