"""The least a Redis ACL user needs, as ``ACL SETUSER`` rules: the one place they are
spelled, quoted by the docs and checked by the tests.

- :data:`STORE_ACL`: a store (every operation of ``LobbyStore`` and ``AsyncLobbyStore``).
- :data:`AUDIT_ACL`: a store and the audit (``lobbycore.audit``: it scans the pool's keys).
- :data:`CLI_ACL`: the ``lobbysim`` commands (they also ``PING`` the server).

Every key of a pool starts with ``lobbysim:`` (hence ``~lobbysim:*``). A store reads ``INFO``
once (the server's version and memory policy), loads its function library
(``FUNCTION LOAD``; without it, calls go out by ``EVALSHA`` instead of ``FCALL``), sends
``EVAL`` when the server lost its functions or scripts, and its scripts call the commands of
:data:`SCRIPT_COMMANDS`. A store checks those when it opens (Redis 7): a user missing one
gets :class:`~lobbycore.ServerRefused` (``NOPERM``) naming it, before anything is written.
A store with ``wait_replicas`` also sends ``WAIT`` after its writing calls (``+wait``, in
:data:`STORE_ACL`: it reads no key, and blocks only its own connection, for at most the
store's ``wait_timeout``); it checks ``wait`` when it opens too (on a server that cannot
tell, a refused ``WAIT`` makes the writing call :class:`~lobbycore.NotConfirmed`, its
``detail`` naming the refusal).

For example: ``ACL SETUSER lobby on >PASSWORD`` followed by the words of :data:`STORE_ACL`.
"""

from __future__ import annotations

from typing import Final

__all__ = ["AUDIT_ACL", "CLI_ACL", "KEYS_ACL", "SCRIPT_COMMANDS", "STORE_ACL"]

SCRIPT_COMMANDS: Final = (
    "append", "del", "exists", "get", "hdel", "hexists", "hget", "hincrby", "hmget", "hset", "incr",
    "lrange", "pexpire", "pexpireat", "rpush", "set", "strlen", "time", "type", "unlink",
    "xadd", "xrange", "zadd", "zrange", "zrangebyscore", "zrem",
)  # fmt: skip
"""Every command lobbycore's scripts call (``lobbycore/lua``)."""

KEYS_ACL: Final = "~lobbysim:*"
"""The keys of every pool."""

STORE_ACL: Final = " ".join(
    (KEYS_ACL, "-@all", "+info", "+fcall", "+evalsha", "+eval", "+function|load", "+wait")
) + "".join(f" +{command}" for command in SCRIPT_COMMANDS)
"""The rules of a store's ACL user (``+function|load`` may be left out, and ``+wait``
without ``wait_replicas``: see above)."""

AUDIT_ACL: Final = f"{STORE_ACL} +scan +hgetall +hlen +zcard"
"""A store's rules, and the audit's reading of the whole pool (sized first: see
:mod:`lobbycore.audit`)."""

CLI_ACL: Final = f"{AUDIT_ACL} +ping"
"""The rules of the ``lobbysim`` commands' user."""

# Run by EVAL when a store opens: which of ARGV the user may not run, and whether it may
# use the pool's key (KEYS[1]). False where Redis has no redis.acl_check_cmd (before 7.0).
# No write: it runs on a replica and over maxmemory too.
PROBE: Final = """
if not redis.acl_check_cmd then return false end
local denied = {redis.acl_check_cmd('get', KEYS[1]) and 1 or 0}
for _, name in ipairs(ARGV) do
  if not redis.acl_check_cmd(name) then denied[#denied + 1] = name end
end
return denied
"""


def denied(reply: object) -> tuple[bool, tuple[str, ...]] | None:
    """What :data:`PROBE` found: whether the user may use the pool's keys, and the commands
    it may not run; None if the server could not tell."""
    if not isinstance(reply, list) or not reply:
        return None
    names = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in reply[1:])
    return reply[0] == 1, names
