"""EXPERIMENTS on the join, measured beside today's join and the minimal join with
bench_server.py's machinery (not used by lobbycore; not a test).

    .venv/bin/python benchmarks/experiments/bench_join_function.py [--quick] [--profiles DIR]

* A (join_function.lua): today's join as a Redis Function with leaner mechanics; the same
  keys, values and replies as today's join.
* B (the same library): A plus fewer writes per join (expiry probe and replay-hash upkeep
  only in joins that make a lobby, one event per join); the same replies.
* probe (join_probe.lua): the common path of a join with every write the guarantees need,
  written as leanly as the minimal join: what a redesign could cost. Not a complete join.

First a check on a private redis-server: the same random joins, party joins, retries and
replays (same ids) sent to today's script, A and B (three pools) must get the same replies,
and A must leave the same keys and values as today's script (creation times and deadlines
masked: they come from the server clock). Then instructions per call under callgrind.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _shared import RedisServer
from bench_server import (
    MAX_USERS,
    OPERATIONS,
    Argv,
    Callgrind,
    Impl,
    Minimal,
    Ours,
    ident,
    instructions_per_call,
    ratio,
)

from lobbycore import LobbyStore
from lobbycore.defaults import DEFAULT_LOBBY_TTL, DEFAULT_REPLAY_WINDOW

LIBRARY = Path(__file__).resolve().parent / "join_function.lua"
PROBE = Path(__file__).resolve().parent / "join_probe.lua"


class Experiment(Ours):
    """Today's scripts, except that joins go to the experiment's function by FCALL."""

    label = "A: same state"
    function = "lobbysim_experiment_join"

    def __init__(self, client: redis.Redis, pool: str = "bench") -> None:
        super().__init__(client, pool)
        client.function_load(LIBRARY.read_text(encoding="utf-8"), replace=True)

    def _capture(self, operation: Callable[[LobbyStore], object]) -> Argv:
        argv = super()._capture(operation)
        if argv[1] != self.shas["join"]:
            return argv
        return ["FCALL", self.function, *argv[2:]]


class ExperimentB(Experiment):
    """Variant B: fewer writes per join (see join_function.lua); not the same state."""

    label = "B: structural"
    function = "lobbysim_experiment_join_b"


class Probe(Minimal):
    """The cost probe of join_probe.lua (join only), in the minimal join's pool layout."""

    label = "probe"

    def __init__(self, client: redis.Redis) -> None:
        super().__init__(client)
        self.shas["probe"] = client.script_load(PROBE.read_text(encoding="utf-8"))

    def join(self, i: int) -> Argv:
        return self._argv(
            "probe", str(MAX_USERS), ident("B", i), ident("M", i), ident("S", i),
            f"{DEFAULT_LOBBY_TTL * 1000:.0f}", f"{DEFAULT_REPLAY_WINDOW * 1000:.0f}",
        )  # fmt: skip


_CLOCK = re.compile(rb"\d{13}")  # ms timestamps (creation times, deadlines) in values


def _masked(value: Any) -> Any:
    if isinstance(value, bytes):
        return _CLOCK.sub(b"T", value)
    if isinstance(value, (list, tuple)):
        return type(value)(_masked(v) for v in value)
    if isinstance(value, (int, float)) and value > 10**12:
        return "T"
    return value


def _state(client: redis.Redis, pool: str) -> dict[bytes, Any]:
    """Every key of a pool (prefix removed) -> its value, timestamps masked."""
    prefix = f"lobbysim:{{{pool}}}:".encode()
    state: dict[bytes, Any] = {}
    for key in client.scan_iter(match=prefix + b"*", count=10_000):
        kind = client.type(key)
        if kind == b"string":
            value: Any = client.get(key)
        elif kind == b"hash":
            value = sorted(client.hgetall(key).items())
        elif kind == b"zset":
            value = sorted(_masked(client.zrange(key, 0, -1, withscores=True)))
        elif kind == b"stream":
            value = [fields for _, fields in client.xrange(key)]
        else:
            value = kind
        state[key[len(prefix) :]] = _masked(
            [sorted(v.items()) if isinstance(v, dict) else v for v in value]
            if isinstance(value, list)
            else value
        )
    return state


def check(server: RedisServer, joins: int) -> None:
    client = server.client()
    impls = (
        Ours(client, "check-today"),
        Experiment(client, "check-a"),
        ExperimentB(client, "check-b"),
    )
    rng = random.Random(15)
    users = [f"user-{i}" for i in range(joins)]
    sent: list[tuple[int, list[str], int]] = []
    for i in range(joins):
        # Mostly fresh users; some retries of a user already placed, some parties, some
        # replays of an earlier call (its ids and users again); lobbies of 2, 4 and 10.
        number, size, kind = i, rng.choice((2, 4, 10)), rng.random()
        if kind < 0.05 and sent:
            number, party, size = sent[rng.randrange(len(sent))]
        elif kind < 0.15 and i > 10:
            party = [users[rng.randrange(i)]]
        elif kind < 0.35:
            party = [users[i], f"buddy-{i}"]
        else:
            party = [users[i]]
        sent.append((number, party, size))
        replies = []
        for impl in impls:
            with impl._new_ids(number):
                join = partial(LobbyStore.join_party, user_ids=party, max_users=size)
                replies.append(_masked(client.execute_command(*impl._capture(join))))  # type: ignore[no-untyped-call]
        if replies[1:] != replies[:1] * 2:
            raise SystemExit(f"call {i}: different replies {replies!r}")
    today, same = _state(client, "check-today"), _state(client, "check-a")
    differ = sorted(k for k in today.keys() | same.keys() if today.get(k) != same.get(k))
    if differ:
        raise SystemExit(f"A left other keys or values than today's join: {differ[:5]}")
    print(
        f"check: {joins:,} calls: today, A and B gave the same replies; A left the same keys"
        " and values as today (timestamps masked); B writes fewer events on purpose"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--profiles", type=Path, help="keep the callgrind profiles here")
    args = parser.parse_args()
    n, warm = (100, 10) if args.quick else (500, 50)
    print(
        f"$ .venv/bin/python benchmarks/experiments/bench_join_function.py {' '.join(sys.argv[1:])}"
    )
    with RedisServer() as server:
        check(server, 300 if args.quick else 3_000)
    found: dict[tuple[str, str], float] = {}
    with Callgrind() as cg:
        client = cg.server.client()
        impls: tuple[Impl, ...] = (
            Ours(client), Experiment(client), ExperimentB(client), Probe(client), Minimal(client)
        )  # fmt: skip
        for op in OPERATIONS[:2]:
            for impl in impls:
                if isinstance(impl, Probe) and op is not OPERATIONS[0]:
                    continue  # the probe prices the single join only
                found[op.name, impl.label], done = instructions_per_call(
                    cg, client, n, warm, impl, op, args.profiles
                )
                if done < 0.99:
                    raise SystemExit(f"{impl.label} {op.name}: {done:.0%} of calls joined")
    labels = [impl.label for impl in impls]
    print(f"\nInstructions per call (callgrind, {n} calls after {warm} warm-up calls)")
    print(f"  {'operation':<22}" + "".join(f"{label:>15}" for label in labels))
    for op in OPERATIONS[:2]:
        minimal = found[op.name, "minimal"]
        counts = [found.get((op.name, label)) for label in labels]
        print(f"  {op.name:<22}" + "".join(f"{c:>15,.0f}" if c else f"{'-':>15}" for c in counts))
        print(f"  {'  ÷ minimal':<22}" + "".join(
            f"{ratio(c, minimal):>15}" if c else f"{'-':>15}" for c in counts
        ))  # fmt: skip


if __name__ == "__main__":
    main()
