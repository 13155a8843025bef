"""The transport seam: how a store's script calls reach Redis, written once.

A store turns each operation into a :class:`ScriptCall` (sans-IO, ``_protocol``) and hands
it to its *transport*, which returns the call's result or raises its typed error. What to
send and what a reply means is decided here, without I/O, by a :class:`ScriptSender`
(one per transport, so one per store):

- the function-or-script choice: FCALL of lobbycore's function library where the server
  has it, else EVALSHA of the registered scripts (see :class:`ScriptSender`);
- the flushed-script fallback: a call the server could not run for want of its function or
  script (a restart without persistence, ``FUNCTION FLUSH``, ``SCRIPT FLUSH``) did not run,
  so it is sent once more as EVAL with the source, which cannot fail that way, together
  with a reload of the library;
- error replies become typed errors, never a raw ``ResponseError``: a refusal of the
  server (``READONLY``, ``OOM``, ``NOPERM``, ``NOREPLICAS``, ...: its Redis error code) is a
  :class:`~lobbycore.ServerRefused` saying whether a retry may succeed; any other error
  reply, from a key the scripts could not foresee, is :class:`~lobbycore.PoolDamaged`
  (``_protocol.script_error`` decides, for every transport).

A batch of calls on its way is a :class:`Dispatch`: its ``commands`` are what to send next,
:meth:`Dispatch.receive` takes their replies, and ``outcomes`` holds each call's result or
error. A driver (a transport) only does the I/O, in a loop::

    dispatch = sender.dispatch(calls)
    while dispatch.commands:
        dispatch.receive(send_on_one_connection(dispatch.commands))
    # dispatch.outcomes[i]: the result of calls[i], or the exception to raise

The drivers: :class:`ClientTransport` (sync, one call at a time: the default of
:class:`~lobbycore.LobbyStore`), :class:`AsyncClientTransport` (its asyncio twin), the
asyncio auto-pipeline of :class:`~lobbycore.AsyncLobbyStore` (batches of concurrent calls)
and the Locust client's gevent auto-pipeline (``locustfiles/pipeline.py``), which plugs in
as ``LobbyStore(client, transport=...)``. A transport satisfies
:class:`lobbycore.Transport` (or :class:`lobbycore.AsyncTransport`): a ``sender`` and
``send(call)``.

The drivers' one promise: a round's ``commands`` go out in order on one connection (a
pipeline, or a single command). That is what lets per-call additions live here alone.
Durability, for instance (``WAIT numreplicas timeout`` after every writing call, on the
connection that wrote): :class:`Dispatch` appends ``("WAIT", n, ms)`` after a round's
commands when one of its calls writes (``script`` not in the read-only set; one WAIT covers
every earlier write of its connection, so one per round is enough, the fallback round
included), and :meth:`Dispatch.receive` reads that last reply: fewer than ``n`` replicas
makes each writing call's outcome a "not confirmed" error instead of its result. Rollback detection
is :meth:`ScriptSender.settle` comparing the write sequence in a script's reply with the
floor its call carried (the highest this sender had seen for that (sub-)pool when the call
was made: ``_protocol.WriteSequences``). No driver changes for either.

On a Redis Cluster client the cluster routes each command to its node, a ``WAIT`` included
(to any node); so the per-call drivers send a round that ends with WAIT (:attr:`Dispatch.waits`)
themselves, pipelined on a connection of the primary that owns the call's key slot (every
key of a (sub-)pool shares one hash tag). A redirect there (``MOVED``: the slot map is
refreshed; ``ASK``: the round goes to the node named, after ``ASKING``) or a connection
error sends the round again, at most :data:`ROUTE_ATTEMPTS` times in all (every script is
safe to replay): :class:`ClusterRoute` decides, the drivers do the I/O (:func:`send_routed`
for a sync client). The Locust client's cluster auto-pipeline, which batches calls per
primary, sends the redirected part of a batch the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final, TypeVar

from redis.asyncio.cluster import PipelineCommand
from redis.exceptions import AskError, ClusterError, MovedError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ._errors import NotConfirmed
from ._protocol import ScriptCall, WriteSequences, script_error
from ._scripts import READ_ONLY, ScriptSet, library

T = TypeVar("T")

Command = tuple[Any, ...]
"""One Redis command as its arguments, e.g. ``("EVALSHA", sha, 1, key, arg)``."""

__all__ = [
    "RESEND",
    "ROUTE_ATTEMPTS",
    "AsyncClientTransport",
    "ClientTransport",
    "ClusterRoute",
    "Command",
    "Dispatch",
    "Redirected",
    "ScriptCall",
    "ScriptSender",
    "send_routed",
    "send_routed_async",
]


class _Resend:
    """What :meth:`ScriptSender.settle` gives for a call that did not run: send it again."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "RESEND"


RESEND: Final = _Resend()
_UNSETTLED: Final = object()
# Calls that get no WAIT: the read-only ones, and the store's open, whose only write (a new
# pool's meta) fails closed if a failover loses it (PoolStateLost on the next call), and
# which must not turn a read's first call into a NotConfirmed.
_UNWAITED: Final = READ_ONLY | {"open"}
# How many times a waiting round is sent on a cluster client before its last error is raised
# (a redirect or a connection error sends it again; the cluster's own retries are not used).
ROUTE_ATTEMPTS: Final = 3


class ScriptSender:
    """Sans-IO: the commands that carry script calls, and what their replies mean.

    Calls are sent by FCALL of lobbycore's function library once :meth:`note_load` saw it
    loaded (not on a cluster client, where redis-py asks a node for FCALL's keys: a round
    trip more per call), else by EVALSHA of the registered scripts.
    """

    __slots__ = ("scripts", "sequences", "wait")

    def __init__(self, client: Any) -> None:
        """``client``: the redis-py client (sync or asyncio, plain or cluster) the calls go
        to; its ``register_script`` gives the scripts' digests."""
        self.scripts = ScriptSet(client)
        # The write sequence seen per (sub-)pool: rollback detection (see WriteSequences).
        self.sequences = WriteSequences()
        # The WAIT sent after a round's writing calls (see require_replicas); None: none.
        self.wait: Command | None = None

    def require_replicas(self, replicas: int, timeout_ms: int) -> None:
        """From now on, every round holding a writing call ends with ``WAIT replicas
        timeout_ms``, and a writing call's result is :class:`~lobbycore.NotConfirmed` when
        fewer replicas acknowledged it (``replicas`` 0: no WAIT). Checked by the store."""
        self.wait = ("WAIT", replicas, timeout_ms) if replicas else None

    @property
    def functions(self) -> bool:
        """Whether calls go out as FCALL (else EVALSHA)."""
        return self.scripts.functions

    def note_load(self, error: ResponseError | None) -> None:
        """The outcome of the store's first ``FUNCTION LOAD`` (without REPLACE): None or
        "already exists" means FCALL from now on; any other refusal means EVALSHA."""
        self.scripts.note_load(error)

    def dispatch(self, calls: Sequence[ScriptCall[Any]]) -> Dispatch:
        """A batch of ``calls`` to send (see :class:`Dispatch`)."""
        return Dispatch(self, calls)

    def command(self, call: ScriptCall[Any]) -> Command:
        """The command that sends ``call``: FCALL or EVALSHA."""
        return self.scripts.command(call)

    def fallback(self, calls: Sequence[ScriptCall[Any]]) -> list[Command]:
        """The commands that send again ``calls`` the server lacked the function or script
        for: a reload of the library (when calls go out as FCALL), then each call as EVAL
        with its source. EVAL rather than load-then-call: a flush in between could not
        make it fail again."""
        scripts = self.scripts
        reload: list[Command] = (
            [("FUNCTION", "LOAD", "REPLACE", library().source)] if scripts.functions else []
        )
        return reload + [scripts.fallback(call) for call in calls]

    def settle(self, call: ScriptCall[T], reply: Any) -> T | BaseException | _Resend:
        """What ``reply`` (an error reply as the exception object) means for ``call``: its
        parsed result, the error to raise, or :data:`RESEND` (the server lacked the
        function or script: the call did not run)."""
        if isinstance(reply, BaseException):
            if isinstance(reply, ResponseError) and self.scripts.missing(reply):
                return RESEND
            return self.failure(reply)
        try:
            return self.sequences.parse(call, reply)
        except Exception as exc:  # a typed error the reply stands for (SoldOut, ...)
            return exc

    @staticmethod
    def failure(error: BaseException) -> BaseException:
        """The error a caller gets for ``error``: a server's error reply becomes a typed
        :class:`~lobbycore.ServerRefused` or :class:`~lobbycore.PoolDamaged` (its cause
        kept); anything else (a connection error, say) is itself."""
        if not isinstance(error, ResponseError):
            return error
        typed = script_error(error)
        typed.__cause__ = error
        typed.__suppress_context__ = True
        return typed


class Dispatch:
    """A batch of script calls on its way to the server (sans-IO).

    Send ``commands`` in order on one connection (pipelined, or alone if there is one),
    hand their replies to :meth:`receive` (error replies as exception objects, as redis-py
    pipelines give them with ``raise_on_error=False``), and again while ``commands`` is not
    empty. Then ``outcomes[i]`` is the result of ``calls[i]``, or the exception to raise
    (:meth:`result` does both). At most two rounds: the calls, then, if the server lacked a
    function or script, the fallback of those calls (see :meth:`ScriptSender.fallback`).
    """

    __slots__ = ("_resent", "_sender", "_waiting", "calls", "commands", "outcomes")

    def __init__(self, sender: ScriptSender, calls: Sequence[ScriptCall[Any]]) -> None:
        self._sender = sender
        self.calls = calls
        self.outcomes: list[Any] = [_UNSETTLED] * len(calls)
        self.commands: list[Command] = list(map(sender.command, calls))
        # In the fallback round: how many commands carry no call (the library's reload),
        # then which calls the others carry, in order. None: the first round, every call.
        self._resent: tuple[int, list[int]] | None = None
        self._waiting = self._add_wait(calls)

    def _add_wait(self, calls: Iterable[ScriptCall[Any]]) -> bool:
        """Ends the round with the sender's WAIT if one of ``calls`` writes (one covers every
        earlier write of the connection); whether it did."""
        wait = self._sender.wait
        if wait is None or all(call.script in _UNWAITED for call in calls):
            return False
        self.commands.append(wait)
        return True

    @property
    def waits(self) -> bool:
        """Whether ``commands`` end with the sender's WAIT (which must go on the connection
        that sends the calls: see :class:`ClusterRoute` for a cluster client)."""
        return self._waiting

    def receive(self, replies: Sequence[Any]) -> None:
        """The replies to ``commands``, in their order; sets ``commands`` to what to send
        next (empty when every call is settled)."""
        if len(replies) != len(self.commands):
            raise ValueError(f"{len(replies)} replies to {len(self.commands)} commands")
        acknowledged: Any = None
        if self._waiting:
            replies, acknowledged = replies[:-1], replies[-1]
        sender, calls, outcomes, resent = self._sender, self.calls, self.outcomes, self._resent
        resend: list[int] = []
        if resent is None:
            pairs: Iterable[tuple[int, Any]] = enumerate(replies)
        else:
            head, sending = resent
            pairs = zip(sending, replies[head:], strict=True)
        for i, reply in pairs:
            outcome = sender.settle(calls[i], reply)
            if outcome is RESEND:
                if resent is not None:  # cannot happen to EVAL; never loop on it
                    outcome = sender.failure(reply)
                else:
                    resend.append(i)
                    continue
            outcomes[i] = outcome
        if self._waiting:
            sent = range(len(calls)) if resent is None else resent[1]
            self._confirm(acknowledged, [i for i in sent if i not in resend])
        if not resend:
            self.commands = []
            return
        self.commands = sender.fallback([calls[i] for i in resend])
        self._resent = (len(self.commands) - len(resend), resend)
        self._waiting = self._add_wait([calls[i] for i in resend])

    def _confirm(self, acknowledged: Any, settled: list[int]) -> None:
        """The WAIT's reply (replicas, or an error reply) for the calls settled this round:
        a writing call's result becomes NotConfirmed when too few replicas had it. A typed
        error stays as it is: the call wrote nothing, or was told so."""
        wait = self._sender.wait
        assert wait is not None  # a round only waits when the sender has a WAIT
        _, wanted, timeout_ms = wait
        detail = ""
        if isinstance(acknowledged, BaseException):
            count, detail = 0, " ".join(str(acknowledged).split())
        else:
            count = int(acknowledged)
            if count >= wanted:
                return
        calls, outcomes = self.calls, self.outcomes
        for i in settled:
            outcome = outcomes[i]
            if calls[i].script not in _UNWAITED and not isinstance(outcome, BaseException):
                outcomes[i] = NotConfirmed(outcome, count, wanted, timeout_ms / 1000, detail)

    def fail(self, error: BaseException) -> None:
        """The round trip failed as a whole (after the client's own retries): every call not
        yet settled gets ``error`` (typed, see :meth:`ScriptSender.failure`)."""
        failure = self._sender.failure  # one error object per caller: each raises its own
        self.outcomes = [failure(error) if o is _UNSETTLED else o for o in self.outcomes]
        self.commands = []

    def unsettled(self) -> list[int]:
        """The indexes of the calls that have no outcome yet."""
        return [i for i, outcome in enumerate(self.outcomes) if outcome is _UNSETTLED]

    def result(self, i: int) -> Any:
        """The result of ``calls[i]``, or raise its error."""
        outcome = self.outcomes[i]
        if isinstance(outcome, BaseException):
            raise outcome
        if outcome is _UNSETTLED:
            raise RuntimeError("the call is not settled: receive its replies first")
        return outcome


class ClusterRoute:
    """Sans-IO: where a round of one key's slot goes on a cluster client, attempt after
    attempt (a waiting round of a per-call driver, or the redirected part of a batch).

    First to the primary that owns ``key``'s slot in the client's slot map. A ``MOVED``
    reply or a connection error: the slot map is refreshed (:attr:`refresh`), then the
    owner is looked up again; an ``ASK`` reply: the round goes to the node it names
    (:attr:`asking`), ``ASKING`` first. After :data:`ROUTE_ATTEMPTS` sends, the last error
    is raised: a connection error as itself (as the client's own would be, after its
    retries), a redirect as the :class:`~redis.exceptions.ClusterError` a cluster client
    raises when its redirects never settle (it is no reply of the pool's scripts). A driver
    whose first send went otherwise (in a batch for the node) hands its error to
    :meth:`failed`, which counts it as the first attempt.
    """

    __slots__ = ("asking", "attempts", "commands", "key", "refresh")

    def __init__(self, key: str, commands: list[Command]) -> None:
        self.key = key
        self.commands = commands
        self.attempts = 0
        # Refresh the slot map before the next send; the node an ASK named (host, port).
        self.refresh = False
        self.asking: tuple[str, int] | None = None

    def sent(self) -> list[Command]:
        """The commands of this attempt: the round's, after ``ASKING`` if redirected so."""
        return [("ASKING",), *self.commands] if self.asking else self.commands

    def replies(self, replies: list[Any]) -> list[Any] | None:
        """The round's replies to :meth:`sent`; None: send again (a redirect or a
        connection error among them, recorded by :meth:`failed`)."""
        if self.asking:
            replies = replies[1:]
        for reply in replies:
            if isinstance(reply, (AskError, RedisConnectionError, RedisTimeoutError)):  # MOVED too
                self.failed(reply)
                return None
        return replies

    def failed(self, error: BaseException) -> None:
        """An attempt failed with ``error`` (a redirect, or a connection error the send
        raised): plans the next, or raises when none is left."""
        self.attempts += 1
        redirect = isinstance(error, AskError)  # MOVED too
        if self.attempts >= ROUTE_ATTEMPTS:
            if redirect:
                raise ClusterError(
                    f"the slot of {self.key!r} was still redirected after {self.attempts} "
                    f"attempts ({' '.join(str(error).split())})"
                ) from error
            raise error
        # MovedError is an AskError to redis-py: MOVED is told apart first.
        if isinstance(error, AskError) and not isinstance(error, MovedError):
            self.asking, self.refresh = (error.host, int(error.port)), False
        else:
            self.asking, self.refresh = None, True


class Redirected:
    """Sans-IO: a batch's round sent to one cluster node (see :class:`ClusterRoute`) whose
    replies hold redirects (``MOVED``, ``ASK``) or connection errors, or which was cut off
    whole: those calls are sent again (only those; the others have their replies), one
    :class:`ClusterRoute` per key in :attr:`routes`, each ending with the round's WAIT if
    it had one. Send each route in turn (the first refreshes the slot map if one must, for
    all of them), hand what came back to :meth:`answer`, then :meth:`replies` is the round's
    replies; the WAIT's stands for the fewest replicas of them all.

    :meth:`of` gives None when the round needs nothing of the kind.
    """

    __slots__ = ("_acknowledged", "_indexes", "_replies", "_waits", "routes")

    def __init__(self, commands: list[Command], waits: bool, replies: list[Any]) -> None:
        """``replies``: the round's, the failed ones as their error (the send's own error
        for every call of a round cut off whole)."""
        self._waits = waits
        self._replies = replies
        calls = len(commands) - waits
        again = [i for i in range(calls) if isinstance(replies[i], _REDIRECTS)]
        # The calls answered already were covered by the round's WAIT on their node.
        self._acknowledged: list[Any] = [replies[-1]] if waits and len(again) < calls else []
        by_key: dict[str, list[int]] = {}
        for i in again:
            # EVALSHA sha | EVAL source | FCALL name, numkeys, then the keys: the
            # (sub-)pool's stats key first, whose slot every key of the call shares.
            by_key.setdefault(str(commands[i][3]), []).append(i)
        wait = commands[-1:] if waits else []
        self.routes: list[ClusterRoute] = []
        self._indexes: list[list[int]] = []
        refreshed = False
        for key, indexes in by_key.items():
            route = ClusterRoute(key, [commands[i] for i in indexes] + wait)
            route.failed(replies[indexes[0]])  # the round's send was its first attempt
            if route.refresh:  # the slot map: refreshed once, for every route
                route.refresh, refreshed = not refreshed, True
            self.routes.append(route)
            self._indexes.append(indexes)

    @classmethod
    def of(
        cls, commands: list[Command], waits: bool, replies: list[Any] | BaseException
    ) -> Redirected | None:
        """``replies``: the round's, or the connection error that cut it off whole."""
        if isinstance(replies, BaseException):
            return cls(commands, waits, [replies] * len(commands))
        if any(isinstance(reply, _REDIRECTS) for reply in replies):
            return cls(commands, waits, replies)
        return None

    def answer(self, route: ClusterRoute, replies: list[Any] | BaseException) -> None:
        """What sending ``route`` gave: its replies, or the error it raised in the end
        (:class:`~redis.exceptions.ClusterError`, a connection error), then each of its
        calls' answer."""
        indexes = self._indexes[self.routes.index(route)]
        if isinstance(replies, BaseException):
            replies = [replies] * len(route.commands)
        for i, reply in zip(indexes, replies, strict=False):
            self._replies[i] = reply
        if self._waits:
            self._acknowledged.append(replies[-1])

    def replies(self) -> list[Any]:
        """The round's replies, once every route is answered."""
        if self._waits:
            acknowledged = self._acknowledged
            errors = [a for a in acknowledged if isinstance(a, BaseException)]
            self._replies[-1] = errors[0] if errors else min(acknowledged, key=int)
        return self._replies


# The replies that send a call of a batch again: a redirect (MovedError is an AskError),
# or the connection lost before its reply.
_REDIRECTS: Final = (AskError, RedisConnectionError, RedisTimeoutError)


def send_routed(client: Any, route: ClusterRoute) -> list[Any]:
    """The replies of ``route``'s round, pipelined on one connection of the node that holds
    its key (a sync cluster client's own connection to that node), sent again as ``route``
    says until it settles (or raises: see :class:`ClusterRoute`)."""
    while True:
        if route.refresh:
            client.nodes_manager.initialize()
        node = client.get_node(*route.asking) if route.asking else None
        if node is None:
            node = client.get_node_from_key(route.key)
        pipe = client.get_redis_connection(node).pipeline(transaction=False)
        for command in route.sent():
            pipe.execute_command(*command)
        try:
            sent: list[Any] = pipe.execute(raise_on_error=False)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            route.failed(exc)
            continue
        replies = route.replies(sent)
        if replies is not None:
            return replies


async def send_routed_async(client: Any, route: ClusterRoute) -> list[Any]:
    """:func:`send_routed` for a ``redis.asyncio`` cluster client (from its own pool for
    the node)."""
    await client.initialize()  # at once unless the client has no slot map yet
    while True:
        if route.refresh:
            await client.nodes_manager.initialize()
        node = client.get_node(*route.asking) if route.asking else None
        if node is None:
            node = client.get_node_from_key(route.key)
        commands = [PipelineCommand(i, *command) for i, command in enumerate(route.sent())]
        try:
            # Error replies and a failed read come back as the commands' results.
            await node.execute_pipeline(commands)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            route.failed(exc)
            continue
        replies = route.replies([command.result for command in commands])
        if replies is not None:
            return replies


class ClientTransport:
    """Sends each call on its own through a sync redis-py client (plain, cluster, or
    fakeredis): one command, one round trip, with the client's retries. The default
    transport of :class:`~lobbycore.LobbyStore`. On a cluster client, a round that ends
    with WAIT goes on a connection of the primary that owns the call's key (see
    :class:`ClusterRoute`)."""

    __slots__ = ("client", "sender")

    def __init__(self, client: Any) -> None:
        self.client = client
        self.sender = ScriptSender(client)

    def send(self, call: ScriptCall[T]) -> T:
        dispatch = self.sender.dispatch((call,))
        while dispatch.commands:
            if dispatch.waits and self.sender.scripts.cluster:
                route = ClusterRoute(call.keys[0], dispatch.commands)
                dispatch.receive(send_routed(self.client, route))
            else:
                dispatch.receive(self._round_trip(dispatch.commands))
        result: T = dispatch.result(0)
        return result

    def _round_trip(self, commands: list[Command]) -> list[Any]:
        if len(commands) == 1:
            try:
                return [self.client.execute_command(*commands[0])]
            except ResponseError as exc:
                return [exc]
        pipe = self.client.pipeline(transaction=False)  # one connection, in order
        for command in commands:
            pipe.execute_command(*command)
        replies: list[Any] = pipe.execute(raise_on_error=False)
        return replies


class AsyncClientTransport:
    """The asyncio twin of :class:`ClientTransport`, over a ``redis.asyncio`` client: what
    :class:`~lobbycore.AsyncLobbyStore` uses with ``autopipeline=False``."""

    __slots__ = ("client", "sender")

    def __init__(self, client: Any, sender: ScriptSender | None = None) -> None:
        """``sender``: share another transport's (so both send alike); else a new one."""
        self.client = client
        self.sender = sender if sender is not None else ScriptSender(client)

    async def send(self, call: ScriptCall[T]) -> T:
        dispatch = self.sender.dispatch((call,))
        while dispatch.commands:
            if dispatch.waits and self.sender.scripts.cluster:
                route = ClusterRoute(call.keys[0], dispatch.commands)
                dispatch.receive(await send_routed_async(self.client, route))
            else:
                dispatch.receive(await self._round_trip(dispatch.commands))
        result: T = dispatch.result(0)
        return result

    async def _round_trip(self, commands: list[Command]) -> list[Any]:
        if len(commands) == 1:
            try:
                return [await self.client.execute_command(*commands[0])]
            except ResponseError as exc:
                return [exc]
        pipe = self.client.pipeline(transaction=False)  # one connection, in order
        for command in commands:
            pipe.execute_command(*command)
        replies: list[Any] = await pipe.execute(raise_on_error=False)
        return replies
