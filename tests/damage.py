"""Damage a pool on purpose: dump and restore its keys, plant a key of the wrong type.

Used by the fakeredis and real-Redis tests of "no half-applied operation": for each write
path, each key the path touches is replaced by a key of a type lobbycore never uses (a
set), the operation must raise PoolDamaged and leave every key of the pool as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lobbycore import LobbyStore, PoolDamaged, pool_prefix
from lobbycore._protocol import WriteSequences, _text

Dump = dict[str, tuple[str, Any]]


def _scan(client: Any, prefix: str) -> list[str]:
    pattern = "".join(f"[{c}]" if c in "*?[]\\" else c for c in prefix) + "*"
    return sorted({_text(k) for k in client.scan_iter(match=pattern, count=1000)})


def dump(client: Any, pool: str) -> Dump:
    """Every key of the pool: its type and its whole value (TTLs aside)."""
    out: Dump = {}
    for key in _scan(client, pool_prefix(pool)):
        kind = _text(client.type(key))
        value: Any
        if kind == "string":
            value = client.get(key)
        elif kind == "hash":
            value = sorted(client.hgetall(key).items())
        elif kind == "zset":
            value = client.zrange(key, 0, -1, withscores=True)
        elif kind == "list":
            value = client.lrange(key, 0, -1)
        elif kind == "set":
            value = sorted(client.smembers(key))
        elif kind == "stream":
            value = [(_text(i), sorted(f.items())) for i, f in client.xrange(key)]
        else:
            raise AssertionError(f"unexpected key type {kind} at {key}")
        out[key] = (kind, value)
    return out


def restore(client: Any, pool: str, saved: Dump) -> None:
    """Make the pool hold exactly ``saved`` again."""
    for key in _scan(client, pool_prefix(pool)):
        client.delete(key)
    for key, (kind, value) in saved.items():
        if kind == "string":
            client.set(key, value)
        elif kind == "hash":
            client.hset(key, mapping=dict(value))
        elif kind == "zset":
            client.zadd(key, {member: score for member, score in value})
        elif kind == "list":
            client.rpush(key, *value)
        elif kind == "set":
            client.sadd(key, *value)
        elif kind == "stream":
            for entry_id, fields in value:
                client.xadd(key, dict(fields), id=entry_id)


def plant(client: Any, key: str) -> None:
    """Replace ``key`` by a set: a type no lobbycore key has."""
    client.delete(key)
    client.sadd(key, "planted")


def changed_keys(before: Dump, after: Dump) -> set[str]:
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


@dataclass
class Outcome:
    key: str
    written: bool
    """The undamaged operation changes this key."""
    raised: BaseException | None
    unchanged: bool


def plant_each_key(
    client: Any, store: LobbyStore, operation: Callable[[], object]
) -> tuple[list[Outcome], Dump]:
    """Run ``operation`` once with a wrong-type key planted at each key it reads or writes
    (every key of the pool, and every key it creates), restoring the pool between runs.
    Returns each run's outcome and the pool as it was before (restored at the end)."""
    pool = store.pool
    before = dump(client, pool)
    operation()
    after = dump(client, pool)
    written = changed_keys(before, after)
    outcomes = []
    for key in sorted(before.keys() | after.keys()):
        restore(client, pool, before)
        # The restore takes the pool back to before the store's last writes, which the store
        # would rightly refuse as a rollback: it forgets the write sequences it saw.
        store.transport.sender.sequences = WriteSequences()
        plant(client, key)
        planted = dump(client, pool)
        raised: BaseException | None = None
        try:
            operation()
        except Exception as exc:  # judged by the caller: it must be PoolDamaged
            raised = exc
        outcomes.append(Outcome(key, key in written, raised, dump(client, pool) == planted))
    restore(client, pool, before)
    store.transport.sender.sequences = WriteSequences()
    return outcomes, before


def assert_fails_closed(outcomes: list[Outcome]) -> None:
    """A key the operation writes, planted, gives PoolDamaged naming it and no change; any
    other planted key gives PoolDamaged without change, or a normal run."""
    assert outcomes
    for o in outcomes:
        if o.written or o.raised is not None:
            assert isinstance(o.raised, PoolDamaged), (o.key, repr(o.raised))
            assert o.raised.key == o.key, (o.key, o.raised)
            assert o.unchanged, f"planted {o.key}: the pool changed although the call failed"


# The write paths, each as a setup that leaves a pool in a state the path changes, and the
# path's one call (built once: the same ids on every run, as a replayed call would carry).
Scenario = Callable[[LobbyStore], Callable[[], object]]


def _join_existing(store: LobbyStore) -> Callable[[], object]:
    for user in ("a", "b", "c"):
        store.find_or_create_lobby(user, 4)
    call = store._protocol.find_or_create_lobby("d", 4)  # fills the lobby: every index moves
    return lambda: store._run(call)


def _join_new(store: LobbyStore) -> Callable[[], object]:
    store.find_or_create_lobby("a", 2)
    store.find_or_create_lobby("b", 2)
    call = store._protocol.find_or_create_lobby("c", 2)
    return lambda: store._run(call)


def _join_large(store: LobbyStore) -> Callable[[], object]:
    # A lobby value over 4 kB: a join APPENDs to it rather than rewriting it.
    store.join_party([f"{i:03d}" + "x" * 197 for i in range(30)], 40)
    call = store._protocol.find_or_create_lobby("late", 40)
    return lambda: store._run(call)


def _leave_large(store: LobbyStore) -> Callable[[], object]:
    store.join_party([f"{i:03d}" + "x" * 197 for i in range(30)], 40)
    call = store._protocol.leave_lobby("015" + "x" * 197)
    return lambda: store._run(call)


def _party_join(store: LobbyStore) -> Callable[[], object]:
    store.find_or_create_lobby("a", 4)
    call = store._protocol.join_party(["b", "c"], 4)
    return lambda: store._run(call)


def _leave(store: LobbyStore) -> Callable[[], object]:
    for user in ("a", "b", "c"):
        store.find_or_create_lobby(user, 3)  # full: the leave lists it again
    call = store._protocol.leave_lobby("b")
    return lambda: store._run(call)


def _leave_last(store: LobbyStore) -> Callable[[], object]:
    store.find_or_create_lobby("a", 3)
    call = store._protocol.leave_lobby("a")
    return lambda: store._run(call)


def _book(store: LobbyStore) -> Callable[[], object]:
    store.set_seats(10)
    lobby = store.find_or_create_lobby("a", 2)
    store.find_or_create_lobby("b", 2)
    call = store._protocol.book_ticket(lobby.id, "request-1")
    return lambda: store._run(call)


def _set_seats(store: LobbyStore) -> Callable[[], object]:
    store.find_or_create_lobby("a", 2)
    call = store._protocol.set_seats(5)
    return lambda: store._run(call)


def _due(store: LobbyStore) -> None:
    import time

    for user in ("a", "b", "c"):
        store.find_or_create_lobby(user, 2)
    time.sleep(2 * (store.lobby_ttl or 0))


def _sweep(store: LobbyStore) -> Callable[[], object]:
    _due(store)
    call = store._protocol.sweep_expired(100)
    return lambda: store._run(call)


def _expiry_inline(store: LobbyStore) -> Callable[[], object]:
    _due(store)
    call = store._protocol.leave_lobby("nobody")  # a no-op leave, but it expires due lobbies
    return lambda: store._run(call)


SCENARIOS: dict[str, tuple[Scenario, float | None]] = {
    "join-existing": (_join_existing, None),
    "join-new": (_join_new, None),
    "join-large": (_join_large, None),
    "leave-large": (_leave_large, None),
    "party-join": (_party_join, None),
    "leave": (_leave, None),
    "leave-last": (_leave_last, None),
    "book": (_book, None),
    "set-seats": (_set_seats, None),
    "sweep": (_sweep, 0.05),
    "expiry-inline": (_expiry_inline, 0.05),
}
"""name -> (scenario, the store's lobby_ttl)"""
