"""The exceptions lobbycore raises. Every one subclasses :class:`LobbyError`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._models import Booking

__all__ = [
    "AlreadyBooked",
    "AlreadyInLobby",
    "InsecureTLS",
    "InvalidInput",
    "JoinReplayTooLate",
    "KeysUnavailable",
    "LayoutMismatch",
    "LobbyError",
    "LobbyNotFound",
    "NotConfirmed",
    "PartySpansShards",
    "PoolDamaged",
    "PoolRolledBack",
    "PoolStateLost",
    "ServerRefused",
    "SoldOut",
    "UnsafeServer",
]


class LobbyError(Exception):
    """Base class of every lobbycore error."""


class InsecureTLS(UserWarning):
    """Warned by :func:`lobbycore.connect` for a TLS connection that does not check the
    server's certificate (``ssl_cert_reqs=none``): anyone on the path can read and change the
    pool's traffic, credentials included. Meant for test servers only."""


class InvalidInput(LobbyError, ValueError):
    """An argument is malformed. Raised before any command is sent, so nothing was written."""


class LobbyNotFound(LobbyError):
    """No lobby (open, full, or recently booked) has this id."""

    def __init__(self, lobby_id: str) -> None:
        super().__init__(f"no lobby {lobby_id!r}")
        self.lobby_id = lobby_id


class AlreadyBooked(LobbyError):
    """The lobby was booked by another call; ``booking`` is that booking."""

    def __init__(self, booking: Booking) -> None:
        super().__init__(
            f"lobby {booking.lobby_id!r} was already booked by request {booking.request_id!r}"
        )
        self.booking = booking


class AlreadyInLobby(LobbyError):
    """A party join named a user who is already in a lobby the rest of the party is not in."""

    def __init__(self, user_id: str, lobby_id: str) -> None:
        super().__init__(f"user {user_id!r} is already in lobby {lobby_id!r}")
        self.user_id = user_id
        self.lobby_id = lobby_id


class JoinReplayTooLate(LobbyError):
    """A join retried after its answer was dropped, whose first run made lobby ``lobby_id``
    (the call's id), since booked. Nothing was written: a lobby id is never made twice once
    booked, so the retry cannot book anyone a second time. Its users' seats were taken by
    that booking (or they left before it); the booking is in the pool's bookings stream.

    Met by a retry later than the store's replay window, or one whose answer a failover or
    a clock step lost."""

    def __init__(self, lobby_id: str) -> None:
        super().__init__(
            f"join retried too late: its first run made lobby {lobby_id!r}, since booked; "
            "the retry placed nobody"
        )
        self.lobby_id = lobby_id


class SoldOut(LobbyError):
    """Too few seats are left for this booking; nothing was taken."""

    def __init__(self, seats_left: int, requested: int) -> None:
        super().__init__(f"sold out: {requested} seats requested, {seats_left} left")
        self.seats_left = seats_left
        self.requested = requested


class NotConfirmed(LobbyError):
    """A writing call ran on the primary, but fewer than ``wanted`` replicas acknowledged it
    within ``timeout`` seconds (a store's ``wait_replicas`` and ``wait_timeout``): it may or
    may not survive a failover. ``result`` is what the call returned on the primary (the
    lobby, the booking, ...); ``acknowledged_by`` how many replicas had it in time (0 when
    the server refused the WAIT: ``detail`` says why). Every call is safe to replay: retry it
    as it was (the same user, the same booking's ``request_id``) to get the same answer,
    confirmed or not again."""

    def __init__(
        self, result: Any, acknowledged_by: int, wanted: int, timeout: float, detail: str = ""
    ) -> None:
        why = (
            f"the server refused WAIT: {detail:.200}"
            if detail
            else f"{acknowledged_by} of {wanted} replicas acknowledged it within {timeout:g} s"
        )
        super().__init__(
            f"not confirmed: the write happened on the primary but {why}; it may or may not "
            "survive a failover (retry the same call: it is safe to replay)"
        )
        self.result = result
        self.acknowledged_by = acknowledged_by
        self.wanted = wanted
        self.timeout = timeout
        self.detail = detail


class PartySpansShards(LobbyError):
    """A party join on a sharded pool named users who live in different shards.

    Each user belongs to one shard (a stable hash of their id) and a lobby lives in one
    shard, so such a party could only be placed by a step spanning shards, which would not
    be atomic. Refused before anything is sent: nothing was written. ``shards`` maps each
    user to their shard; see ``LobbyStore.shard_of`` to form parties within a shard.
    """

    def __init__(self, shards: dict[str, int]) -> None:
        super().__init__(
            f"a party's users live in {len(set(shards.values()))} different shards "
            f"({', '.join(f'{u!r:.40}: {s}' for u, s in list(shards.items())[:6])}); "
            "a party on a sharded pool must share one shard"
        )
        self.shards = shards


class KeysUnavailable(LobbyError):
    """The server refuses ``KEYS`` (renamed away, a common hardening, or denied by an ACL),
    which the naive strategy calls on every join. The atomic strategy never needs it."""

    MESSAGE = "the naive strategy needs the KEYS command, which this server disables"

    def __init__(self) -> None:
        super().__init__(self.MESSAGE)


class PoolDamaged(LobbyError):
    """A key of the pool holds what lobbycore did not write (a wrong type, a malformed
    value). The operation stopped before writing anything: the pool is as it was. ``key``
    names the key (None if the server did not say). A server that refuses a call raises
    :class:`ServerRefused` instead: the pool is not damaged then."""

    def __init__(self, key: str | None, what: str) -> None:
        where = f"key {key!r}" if key is not None else "the pool"
        super().__init__(f"{where} is damaged ({what}); nothing was written")
        self.key = key
        self.what = what


class PoolNotFound(LobbyError):
    """A store made with ``create_pool=False`` (a reader: a dashboard following a pool) met
    a pool that holds no key. Nothing was written; the next call looks again."""


class PoolStateLost(LobbyError):
    """The pool's state is gone, was replaced, or went back in time since this store first
    used it. Nothing was written. Seats, lobbies and bookings cannot be trusted; restore the
    pool (or start a new one with a new store and ``set_seats``) deliberately.

    Raised when the meta key ``key`` is missing or holds another epoch (``found``; '' when
    missing): a restart without persistence, eviction, FLUSHDB, a failover to a replica
    that never had the pool. A pool that kept its epoch but lost writes this store saw (a
    failover to a lagging replica, a restore of an older backup) raises the subclass
    :class:`PoolRolledBack`.

    What a store can detect is bounded by what it has seen: it learns the epoch and the
    pool's write sequence on its first call to each (sub-)pool, and every reply since. A
    store made after the loss, or one that never saw the lost writes, finds a consistent
    pool and cannot know that it lost anything.
    """

    def __init__(self, key: str, found: str, why: str = "") -> None:
        """``why``: what else is known (a pool whose other keys are there, say)."""
        now = f"now holds epoch {found!r}" if found else "is missing"
        why = f" {why}" if why else ""
        super().__init__(f"pool state lost: {key!r} {now}{why}; nothing was written")
        self.key = key
        self.found = found


class LayoutMismatch(LobbyError):
    """The pool's keys were written in another key layout (``found``, kept in its meta hash
    ``key``) than the one this lobbycore reads and writes (``expected``). Refused when the
    store opens the pool, before anything is read as this layout's or written: the pool is
    neither lost nor new, and no layout is converted. Finish that pool with the lobbycore
    version that wrote it, or start a new pool (another pool name) with this one."""

    def __init__(self, key: str, found: str, expected: str) -> None:
        super().__init__(
            f"pool {key!r} was written in key layout {found}, and this lobbycore uses layout "
            f"{expected}; nothing was written. Finish that pool with the lobbycore version "
            f"that writes layout {found}, or start a new pool (another pool name)"
        )
        self.key = key
        self.found = found
        self.expected = expected


class PoolRolledBack(PoolStateLost):
    """The pool went back in time: its write sequence (``found``, in meta ``key``: every
    writing call adds one, in the same atomic step) is older than one this store has
    already seen (``seen``). Acknowledged writes were lost, typically to a failover that
    promoted a lagging replica, or to a restore of an older backup. The call refused before
    writing anything, and so does every later call of this store to that (sub-)pool, even
    once other stores' writes carry the sequence past ``seen``: the pool's state cannot be
    trusted (see :class:`PoolStateLost` for what to do).

    Detected only by a store that saw the lost state: on a reply, or on its first call
    (the store learns the sequence when it opens the pool). A store made after the
    rollback, or one whose last call came before the lost writes, sees nothing wrong; and
    a store whose next call comes only after other stores' writes took the sequence past
    the one it saw cannot tell either (the sequence counts writes, it does not name them).
    ``epoch`` is the pool's epoch, the same as before: the pool was not replaced.
    """

    def __init__(self, key: str, seen: int, found: int, epoch: str) -> None:
        LobbyError.__init__(
            self,
            f"pool state rolled back: {key!r} holds write sequence {found}, older than "
            f"{seen} which this store has seen (acknowledged writes were lost, as by a "
            "failover to a lagging replica); nothing was written",
        )
        self.key = key
        self.found = epoch
        self.seen = seen
        self.sequence = found
        self.epoch = epoch


class UnsafeServer(LobbyError):
    """The server cannot keep the guarantees: too old a version, or a ``maxmemory-policy``
    that may evict the pool's keys. Raised by a store's first call, before any write."""


# Each refusal a script call may get, by its Redis error code: whether the same call may
# succeed later as it is (the server gets out of that state by itself or by routine
# operation: a failover ends, a replica reconnects, a script or a load finishes), and why
# the server refuses. Not retryable: what only an operator changes (memory, an ACL, a password).
REFUSALS: dict[str, tuple[bool, str]] = {
    "READONLY": (True, "the server is a read-only replica (a failover may be under way)"),
    "MASTERDOWN": (True, "the replica lost its primary"),
    "CLUSTERDOWN": (True, "the cluster is down"),
    "TRYAGAIN": (True, "the cluster is moving the pool's slot"),
    "BUSY": (True, "the server is busy running a script"),
    "LOADING": (True, "the server is loading its dataset"),
    "NOREPLICAS": (True, "too few replicas are connected (min-replicas-to-write)"),
    "MISCONF": (True, "the server cannot save to disk (stop-writes-on-bgsave-error)"),
    "OOM": (False, "the server is out of memory (maxmemory)"),
    "NOPERM": (False, "the ACL user lacks a permission the scripts need"),
    "NOAUTH": (False, "the connection is not logged in"),
    "WRONGPASS": (False, "the password was refused"),
}


class ServerRefused(LobbyError):
    """The server refused the call: a Redis error reply such as ``READONLY``, ``OOM`` or
    ``NOPERM`` (``code``), not a problem of the pool. Redis refuses before a call writes
    anything (before the script runs, or at its first write); so does an ACL, which a
    store checks when it opens (an ACL changed later may stop a script after some writes).

    ``retryable``: the same call may succeed later as it is (``READONLY``, ``MASTERDOWN``,
    ``CLUSTERDOWN``, ``TRYAGAIN``, ``BUSY``, ``LOADING``, ``NOREPLICAS``, ``MISCONF``);
    False when only an operator can change it (``OOM``, ``NOPERM``, ``NOAUTH``,
    ``WRONGPASS``). ``commands``: for ``NOPERM``, the commands the ACL user may not run,
    when known (the rules to grant: ``lobbycore.acl.STORE_ACL``).
    """

    def __init__(self, code: str, detail: str = "", commands: tuple[str, ...] = ()) -> None:
        retryable, why = REFUSALS.get(code, (False, "the server refused the call"))
        if commands:
            why = f"the ACL user may not run {', '.join(repr(c) for c in commands)}"
        said = f"; the server said: {detail:.200}" if detail else ""
        if code == "NOPERM":
            advice = "grant the rules of lobbycore.acl.STORE_ACL"
        else:
            advice = "nothing was written" + ("; retry later" if retryable else "")
        super().__init__(f"the server refused the call ({code}: {why}{said}); {advice}")
        self.code = code
        self.retryable = retryable
        self.commands = commands
