"""What each operation costs Redis: today's scripts beside minimal reference scripts.

    .venv/bin/python benchmarks/bench_server.py            # about 3 minutes
    .venv/bin/python benchmarks/bench_server.py --quick    # smaller counts, a smoke run
    .venv/bin/python benchmarks/bench_server.py --profiles DIR   # keep the callgrind profiles
    .venv/bin/python benchmarks/bench_server.py --before REV     # REV's scripts beside these
    .venv/bin/python benchmarks/callgrind_parts.py DIR/callgrind.join-today.out  # by part

A script, not a test: it asserts nothing. Needs redis-server and redis-benchmark (Debian:
apt-get install redis-server redis-tools) and, for the instruction counts, valgrind (Debian:
apt-get install valgrind; without it that part is left out and said so). It starts private
redis-servers on free loopback ports and never touches another server.

What runs: lobbycore's commands exactly as a ``LobbyStore`` with its default settings
(lobby expiry, replay records) sends them: the store itself builds each call (its
validation, keys and arguments), which is captured instead of sent, then sent in bulk, as
``FCALL`` of the function library and as ``EVALSHA`` of the scripts (a server without
functions); with ``--before REV``, the same calls also go to git revision REV's scripts
(its ``lobbycore/lua``, loaded beside this checkout's: their arguments are the same), so
before and after come from one run on one server; and
the minimal references of ``benchmarks/minimal/*.lua``, each doing its operation correctly
and nothing else (no events, expiry, counters or replay records). Operations: join, party
join (2 users into lobbies of 4), leave and book, each in a pool that also holds 1,000 full
lobbies; floors: ``PING`` and a script and a function that return at once.

1. Instructions per call, the headline: a second redis-server runs under
   ``valgrind --tool=callgrind --instr-atstart=no``; for each operation, after its set-up and
   a warm-up, ``callgrind_control`` turns instrumentation on and zeroes the counters, N
   calls are sent (pipelined, 50 a trip, each doing its operation once: checked after), and
   a dump is taken. Every instruction the server ran in between counts: reading, parsing,
   the script, replying, and the event loop's timers (well under 1 % here). Instruction
   counts do not depend on the other processes of a shared machine; times do.
2. Time: ``redis-benchmark`` (50 clients, unpipelined and ``-P 16``, fresh ids per call
   through ``__rand_int__``) gives calls/s, and ``INFO commandstats`` (reset before each
   run) gives Redis's own microseconds per call in the pipelined run. Leave and book act on
   users and lobbies made first, numbered like ``__rand_int__``'s ids; a random pick can
   repeat one, so the share of calls that did their operation is printed (about 88 %).
3. Memory: INFO used_memory grown per waiting user by joins into lobbies of 2, 4 and 10,
   replay records included (the minimal join alongside).
"""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from unittest import mock

import redis
from _shared import (
    Argv,
    RedisServer,
    StoreCommands,
    bytes_per_waiting_user,
    memory_growth,
    send,
)

import lobbycore._protocol
from lobbycore import LobbyStore
from lobbycore._protocol import parse_stats
from lobbycore._scripts import SCRIPT_NAMES, library, script_sources
from lobbycore.defaults import DEFAULT_LOBBY_TTL, DEFAULT_REPLAY_WINDOW

MINIMAL_DIR = Path(__file__).resolve().parent / "minimal"
CLIENTS = 50
PIPELINE = 16
BATCH = 50  # calls per trip while callgrind counts (near redis-benchmark's -P 16 .. 50)
MAX_USERS = 4
RAND = "__rand_int__"
SENTINEL = 10**12 - 1
BACKGROUND_LOBBIES = 1_000  # full lobbies (4,000 users) in the pool of every measurement
BACKGROUND_FROM = (
    10**11
)  # their numbers: apart from the ids the calls use  # the index that stands for __rand_int__ (12 digits, like its numbers)


def ident(kind: str, i: int) -> str:
    """A ULID-shaped id (lobbycore checks lobby ids are ULIDs): "0", ``kind`` (one Crockford
    letter), 12 zeros, ``i`` in 12 digits: the shape of redis-benchmark's ``__rand_int__``."""
    return f"0{kind}{0:012d}{i:012d}"


def template(argv: Argv) -> Argv:
    """The command built for index SENTINEL, with every id's number left to redis-benchmark."""
    digits = f"{SENTINEL:012d}"
    return [arg.replace(digits, RAND) for arg in argv]


@dataclass(frozen=True)
class ScriptVersion:
    """A version of lobbycore's Lua scripts: its script digests and function names."""

    label: str
    shas: dict[str, str]
    functions: dict[str, str]


def load_version(client: redis.Redis, label: str, rev: str | None = None) -> ScriptVersion:
    """Load the scripts and the function library of the working tree (``rev`` None) or of
    git revision ``rev`` (its ``lobbycore/lua/*.lua``, built as this checkout's
    lobbycore._scripts builds them) into the server."""
    if rev is None:
        sources, lib = script_sources(), library()
    else:
        old: dict[str, str] = {}
        for name in ("common", *SCRIPT_NAMES):
            old[name] = subprocess.run(
                ["git", "show", f"{rev}:lobbycore/lua/{name}.lua"],
                capture_output=True, text=True, check=True, timeout=60,
            ).stdout  # fmt: skip
        with mock.patch.object(lobbycore._scripts, "_read", old.__getitem__):
            sources = script_sources.__wrapped__()
            lib = library.__wrapped__()
    shas = {name: client.script_load(src) for name, src in sources.items()}
    try:
        client.function_load(lib.source)
    except redis.ResponseError as exc:
        if "already exists" not in str(exc):
            raise
    return ScriptVersion(label, shas, lib.functions)


class Ours:
    """lobbycore's scripts, sent as a LobbyStore with its default settings sends them:
    the store builds each command, which is then sent to ``version``'s scripts (this
    checkout's, or an earlier revision's: their arguments are the same) by FCALL, or by
    EVALSHA (``evalsha``: as on a server without functions)."""

    def __init__(
        self,
        client: redis.Redis,
        version: ScriptVersion,
        *,
        evalsha: bool = False,
        pool: str = "bench",
    ) -> None:
        self.client = client
        self.version = version
        self.evalsha = evalsha
        self.label = f"{version.label} ({'EVALSHA' if evalsha else 'FCALL'})"
        self.commands = StoreCommands(client, pool)
        names = {fn: name for name, fn in library().functions.items()}
        names.update({sha: name for name, sha in self.commands.shas.items()})
        self._script_of = names

    def fresh(self) -> None:
        self.commands.fresh()

    def _retarget(self, argv: Argv) -> Argv:
        # The store's FCALL <function> 1 <key> <args...> (or EVALSHA), sent to this version.
        script = self._script_of[argv[1]]
        if self.evalsha:
            return ["EVALSHA", self.version.shas[script], *argv[2:]]
        return ["FCALL", self.version.functions[script], *argv[2:]]

    def _capture(self, operation: Callable[[LobbyStore], object]) -> Argv:
        return self._retarget(self.commands.capture(operation))

    @contextmanager
    def _new_ids(self, i: int) -> Iterator[None]:
        # A join makes its new lobby's ids itself (lobby id, then session id); numbered ids
        # instead let redis-benchmark vary them and let book find the lobby again.
        ids = [ident("B", i), ident("S", i)]
        with mock.patch.object(lobbycore._protocol, "new_ulid", side_effect=ids):
            yield

    def _join(self, users: list[str], i: int) -> Argv:
        with self._new_ids(i):
            return self._capture(lambda store: store.join_party(users, MAX_USERS))

    def join(self, i: int) -> Argv:
        with self._new_ids(i):
            return self._capture(lambda store: store.find_or_create_lobby(ident("M", i), MAX_USERS))

    def party(self, i: int) -> Argv:
        return self._join([ident("M", i), ident("N", i)], i)

    def full_lobby(self, j: int) -> Argv:
        """Lobby ``j``, full, holding users M(4j) .. M(4j + 3)."""
        return self._join([ident("M", MAX_USERS * j + m) for m in range(MAX_USERS)], j)

    def leave(self, i: int) -> Argv:
        return self._capture(lambda store: store.leave_lobby(ident("M", i)))

    def book(self, i: int) -> Argv:
        return self._capture(lambda store: store.book_ticket(ident("B", i), ident("R", i)))

    def placed(self) -> int:
        argv = self._capture(lambda store: store.stats())
        reply = self.client.execute_command(*argv)  # type: ignore[no-untyped-call]
        return parse_stats(reply[1]).waiting_users


class Minimal:
    """The reference scripts of benchmarks/minimal/, with the same ids."""

    label = "minimal"
    users_key = "mini:{bench}:users"

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.shas = {
            name: client.script_load((MINIMAL_DIR / f"{name}.lua").read_text(encoding="utf-8"))
            for name in ("join", "join_party", "leave", "book")
        }

    def _argv(self, script: str, *args: str) -> Argv:
        return ["EVALSHA", self.shas[script], "1", self.users_key, *args]

    def join(self, i: int) -> Argv:
        return self._argv("join", str(MAX_USERS), ident("B", i), ident("M", i))

    def party(self, i: int) -> Argv:
        return self._argv("join_party", str(MAX_USERS), ident("B", i), ident("M", i), ident("N", i))

    def full_lobby(self, j: int) -> Argv:
        # A full lobby is in no index, so the party join leaves the same state as 4 joins.
        users = [ident("M", MAX_USERS * j + m) for m in range(MAX_USERS)]
        return self._argv("join_party", str(MAX_USERS), ident("B", j), *users)

    def leave(self, i: int) -> Argv:
        return self._argv("leave", ident("M", i))

    def book(self, i: int) -> Argv:
        return self._argv("book", ident("B", i))

    def placed(self) -> int:
        return int(self.client.hlen(self.users_key))

    def fresh(self) -> None:
        """Nothing to do after a flush: the scripts stay loaded and need no set-up."""


Impl = Ours | Minimal


@dataclass(frozen=True)
class Operation:
    name: str
    call: Callable[[Impl, int], Argv]
    users_per_call: int  # users placed or freed by one call, to count the real work done
    lobbies_needed: Callable[[int], int]  # full lobbies to set up before n calls


OPERATIONS = (
    Operation("join", lambda impl, i: impl.join(i), 1, lambda n: 0),
    Operation("party join (2 of 4)", lambda impl, i: impl.party(i), 2, lambda n: 0),
    Operation("leave", lambda impl, i: impl.leave(i), 1, lambda n: -(-n // MAX_USERS)),
    Operation("book", lambda impl, i: impl.book(i), MAX_USERS, lambda n: n),
)


def set_up(client: redis.Redis, impl: Impl, op: Operation, n: int) -> None:
    """A pool holding what ``n`` calls of ``op`` (numbered from 0) act on, beside a background
    of other full lobbies: a pool of a few thousand users keeps its indexes in the encodings
    of a live pool (a hash of up to 512 entries is a listpack, searched entry by entry)."""
    background = range(BACKGROUND_FROM, BACKGROUND_FROM + BACKGROUND_LOBBIES)
    send(client, (impl.full_lobby(j) for j in background))
    send(client, (impl.full_lobby(j) for j in range(op.lobbies_needed(n))))


# ---- time: redis-benchmark and INFO commandstats -------------------------------------------


def redis_benchmark(port: int, argv: Argv, requests: int, pipeline: int, keyspace: int) -> float:
    """Calls/s of ``argv`` under redis-benchmark, 50 clients."""
    output = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-n", str(requests), "-c", str(CLIENTS),
         "-P", str(pipeline), "-r", str(keyspace), "-q", *argv],
        capture_output=True, text=True, check=True, timeout=600,
    ).stdout  # fmt: skip
    match = re.search(r"([\d.]+) requests per second", output.replace(",", ""))
    if match is None:
        raise RuntimeError(f"unexpected redis-benchmark output: {output!r}")
    return float(match.group(1))


def usec_per_call(client: redis.Redis, command: str) -> float:
    stats = client.info("commandstats")
    return float(stats[f"cmdstat_{command}"]["usec_per_call"])


@dataclass
class Timing:
    usec: float = 0.0  # Redis's µs per call (INFO commandstats), pipelined run
    rate: float = 0.0  # calls/s, unpipelined
    rate_piped: float = 0.0  # calls/s, -P 16
    real_work: float = 1.0  # share of calls that did their operation (leave, book)


def time_floor(client: redis.Redis, port: int, argv: Argv, requests: int) -> Timing:
    command = argv[0].lower()
    timing = Timing(rate=redis_benchmark(port, argv, requests, 1, 1))
    client.config_resetstat()
    timing.rate_piped = redis_benchmark(port, argv, requests, PIPELINE, 1)
    timing.usec = usec_per_call(client, command)
    return timing


def time_operation(
    client: redis.Redis, port: int, impl: Impl, op: Operation, requests: int
) -> Timing:
    # Ids are drawn from 0 .. keyspace - 1; leave and book pick among 4 x requests targets,
    # so most picks are fresh (1 - e^-0.25 of the draws repeat one at most).
    keyspace = 4 * requests if op.lobbies_needed(1) else 10**9
    timing = Timing()
    done = 0
    for pipeline in (1, PIPELINE):
        client.flushall()
        impl.fresh()
        set_up(client, impl, op, keyspace)
        before = impl.placed()
        client.config_resetstat()
        argv = template(op.call(impl, SENTINEL))
        rate = redis_benchmark(port, argv, requests, pipeline, keyspace)
        if pipeline == 1:
            timing.rate = rate
        else:
            timing.rate_piped, timing.usec = rate, usec_per_call(client, argv[0].lower())
        done += abs(impl.placed() - before)  # after reading the stats: placed() runs a script
    timing.real_work = done / (2 * requests * op.users_per_call)
    client.flushall()
    return timing


# ---- instructions: callgrind ------------------------------------------------------------------


class Callgrind:
    """A private redis-server under callgrind, instrumentation off until :meth:`count`."""

    def __init__(self) -> None:
        self.folder = folder = Path(tempfile.mkdtemp(prefix="lobbysim-callgrind-"))
        self.out = folder / "callgrind.out"
        wrapper = folder / "redis-server-under-callgrind"
        valgrind = shutil.which("valgrind") or "valgrind"
        server = shutil.which("redis-server") or "redis-server"
        wrapper.write_text(
            "#!/bin/sh\n"
            f"exec {shlex.quote(valgrind)} --tool=callgrind --instr-atstart=no"
            f' --callgrind-out-file={shlex.quote(str(self.out))} {shlex.quote(server)} "$@"\n'
        )
        wrapper.chmod(0o755)
        self.server = RedisServer(binary=str(wrapper))
        self._dumps = 0

    def __enter__(self) -> Callgrind:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    @property
    def pid(self) -> str:
        assert self.server.process is not None
        return str(self.server.process.pid)

    def _control(self, *args: str) -> None:
        subprocess.run(
            ["callgrind_control", *args, self.pid], check=True, capture_output=True, timeout=60
        )

    def count(self, send_calls: Callable[[], None]) -> tuple[int, Path]:
        """Instructions the server ran while ``send_calls()`` ran, and the profile's path."""
        self._control("--instr=on")
        self._control("--zero")
        send_calls()
        self._control("--dump")
        self._control("--instr=off")
        self._dumps += 1
        dump = self.folder / f"callgrind.out.{self._dumps}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if dump.exists():
                match = re.search(r"^summary: (\d+)", dump.read_text(), re.MULTILINE)
                if match:
                    return int(match.group(1)), dump
            time.sleep(0.05)
        raise RuntimeError(f"callgrind wrote no dump {dump}")


def instructions_per_call(
    cg: Callgrind, client: redis.Redis, n: int, warm: int, impl: Impl, op: Operation,
    keep: Path | None = None,
) -> tuple[float, float]:  # fmt: skip
    """Instructions per call of ``op`` numbered 0 .. n-1 after ``warm`` calls numbered after
    them, in a flushed pool set up for all of them; and the share of calls that did their
    operation (a refused call would be cheap, not comparable)."""
    client.flushall()
    impl.fresh()
    set_up(client, impl, op, n + warm)
    send(client, (op.call(impl, i) for i in range(n, n + warm)))
    before = impl.placed()
    total, dump = cg.count(lambda: send(client, (op.call(impl, i) for i in range(n)), BATCH))
    done = abs(impl.placed() - before) / (n * op.users_per_call)
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^a-z0-9]+", "-", f"{op.name}-{impl.label}".lower()).strip("-")
        shutil.copy(dump, keep / f"callgrind.{name}.out")
    return total / n, done


def floor_instructions(cg: Callgrind, client: redis.Redis, argv: Argv, n: int) -> float:
    send(client, [argv] * 10)
    total, _ = cg.count(lambda: send(client, [argv] * n, BATCH))
    return total / n


PRELUDE_END = "\n-- ---- join.lua ----\n"  # where script_sources() puts an operation's own file
EMPTY_LIBRARY = (
    "#!lua name=bench_floor\nredis.register_function('bench_empty', function() return 1 end)"
)


def load_floors(client: redis.Redis) -> dict[str, Argv]:
    """The floors' commands: PING, a script and a function that return at once (one key)."""
    client.function_load(EMPTY_LIBRARY, replace=True)
    key = "lobbysim:{bench}:stats"
    floors = {
        "PING": ["PING"],
        "empty script": ["EVALSHA", client.script_load("return 1"), "1", key],
        "empty function": ["FCALL", "bench_empty", "1", key],
    }
    # The prelude every lobbycore script runs first (the shared helpers), alone.
    prelude, marker, _ = script_sources()["join"].partition(PRELUDE_END)
    if marker:
        sha = client.script_load(f"{prelude}\nreturn 1")
        try:  # left out if the prelude cannot run alone (it may expect arguments)
            client.evalsha(sha, 1, key)
            floors["lobbycore prelude alone"] = ["EVALSHA", sha, "1", key]
        except redis.ResponseError:
            pass
    return floors


def make_impls(client: redis.Redis, before: str | None) -> tuple[Impl, ...]:
    """This checkout's scripts (FCALL and EVALSHA), ``before``'s if given, and the minimal
    references, all loaded into ``client``'s server."""
    impls: list[Impl] = []
    if before is not None:
        old = load_version(client, f"before {before}", before)
        impls += [Ours(client, old, pool="bench-before"),
                  Ours(client, old, evalsha=True, pool="bench-before")]  # fmt: skip
    today = load_version(client, "today")
    impls += [Ours(client, today), Ours(client, today, evalsha=True), Minimal(client)]
    return tuple(impls)


def measure_instructions(
    floors: dict[str, Argv], n: int, warm: int, profiles: Path | None, before: str | None
) -> tuple[dict[str, float], dict[tuple[str, str], tuple[float, float]]]:
    """Floors: name -> instructions per call; operations: (operation, impl label) ->
    (instructions per call, share of calls that did real work)."""
    with Callgrind() as cg:
        client = cg.server.client()
        load_floors(client)
        found_floors = {
            name: floor_instructions(cg, client, argv, n) for name, argv in floors.items()
        }
        impls = make_impls(client, before)
        found = {
            (op.name, impl.label): instructions_per_call(cg, client, n, warm, impl, op, profiles)
            for op in OPERATIONS
            for impl in impls
        }
    return found_floors, found


# ---- report -------------------------------------------------------------------------------------


def ratio(ours: float, minimal: float) -> str:
    return f"{ours / minimal:.2f}x" if minimal else "-"


def baseline_of(label: str, labels: list[str]) -> str | None:
    """The before-label with the same call mode as ``label`` (a today label), if measured."""
    mode = label[label.index("(") :] if "(" in label else ""
    return next((b for b in labels if b.startswith("before") and b.endswith(mode)), None)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke run")
    parser.add_argument("--profiles", type=Path, help="keep the callgrind profiles here")
    parser.add_argument(
        "--before",
        metavar="REV",
        help="also measure the scripts of git revision REV (its lobbycore/lua), beside these",
    )
    args = parser.parse_args()
    if shutil.which("redis-benchmark") is None:
        sys.exit("redis-benchmark not found (Debian: apt-get install redis-tools)")
    scale = 10 if args.quick else 1
    requests = {"join": 20_000, "party join (2 of 4)": 10_000, "leave": 4_000, "book": 4_000}
    cg_calls, cg_warm = 500 // scale, 50 // scale
    memory_users = 40_000 // scale

    command = " ".join([".venv/bin/python", "benchmarks/bench_server.py", *sys.argv[1:]])
    print(f"$ {command}")
    started = time.monotonic()
    with RedisServer() as server:
        client = server.client()
        info = client.info("server")
        print(
            f"redis-server {info['redis_version']} (private, 127.0.0.1:{server.port}), "
            f"lobbycore scripts with the stores' defaults: lobby_ttl {DEFAULT_LOBBY_TTL:g} s, "
            f"replay_window {DEFAULT_REPLAY_WINDOW:g} s; lobbies of {MAX_USERS}"
        )
        impls = make_impls(client, args.before)
        labels = [impl.label for impl in impls]
        floors = load_floors(client)

        spent: dict[str, float] = {}
        lap = time.monotonic()
        if shutil.which("valgrind") and shutil.which("callgrind_control"):
            floor_counts, counts = measure_instructions(
                floors, cg_calls, cg_warm, args.profiles, args.before
            )
            cg_note = f"{cg_calls:,} calls each after {cg_warm:,} warm-up calls"
        else:
            floor_counts, counts = {}, {}
            cg_note = "left out: valgrind not installed (Debian: apt-get install valgrind)"

        spent["instructions"], lap = time.monotonic() - lap, time.monotonic()
        timings: dict[tuple[str, str], Timing] = {}
        for name, argv in floors.items():
            timings[name, "today"] = time_floor(client, server.port, argv, 50_000 // scale)
        for op in OPERATIONS:
            for impl in impls:
                timings[op.name, impl.label] = time_operation(
                    client, server.port, impl, op, requests[op.name] // scale
                )

        spent["time"], lap = time.monotonic() - lap, time.monotonic()
        client.flushall()
        memory = {
            size: bytes_per_waiting_user(client, memory_users, size, DEFAULT_REPLAY_WINDOW)
            for size in (2, 4, 10)
        }
        # The same joins (lobbies of 4, replay records included) through each implementation.
        memory_by_impl: dict[str, float] = {}
        for impl in impls:
            if "EVALSHA" in impl.label:
                continue  # the same keys as FCALL's
            client.flushall()
            impl.fresh()
            joins = [impl.join(i) for i in range(memory_users)]
            grown = memory_growth(client, partial(send, client, joins))
            memory_by_impl[impl.label] = grown / impl.placed()
        spent["memory"] = time.monotonic() - lap

    mini = "minimal"
    print(
        f"\n1. Instructions per call (callgrind; {cg_note}). The steady figure: trust this one."
        f" [{spent['instructions']:.0f} s]"
    )
    for name, count in floor_counts.items():
        print(f"  {name:<40}{count:>12,.0f}")
    if counts:
        print(
            f"  {'operation':<22}{'scripts':<24}{'instructions':>13}{'÷ minimal':>11}"
            f"{'÷ before':>10}{'real work':>11}"
        )
    for op in OPERATIONS:
        for label in labels:
            if (op.name, label) not in counts:
                continue
            ours, done = counts[op.name, label]
            base = baseline_of(label, labels) if label.startswith("today") else None
            vs_before = ratio(ours, counts[op.name, base][0]) if base else ""
            print(
                f"  {op.name if label == labels[0] else '':<22}{label:<24}{ours:>13,.0f}"
                f"{ratio(ours, counts[op.name, mini][0]) if label != mini else '':>11}"
                f"{vs_before:>10}{done:>11.0%}"
            )

    print(
        f"\n2. Time (redis-benchmark, {CLIENTS} clients; µs per call from INFO commandstats in "
        f"the -P {PIPELINE} run). A shared machine moves these from run to run."
        f" [{spent['time']:.0f} s]"
    )
    head = ("µs/call", "calls/s", f"calls/s -P{PIPELINE}", "real work")
    print(f"  {'operation':<22}{'':<24}{head[0]:>9}{head[1]:>11}{head[2]:>15}{head[3]:>11}")
    for name in floors:
        t = timings[name, "today"]
        print(f"  {name:<46}{t.usec:>9.2f}{t.rate:>11,.0f}{t.rate_piped:>15,.0f}")
    for op in OPERATIONS:
        for label in labels:
            t = timings[op.name, label]
            print(
                f"  {op.name if label == labels[0] else '':<22}{label:<24}{t.usec:>9.2f}"
                f"{t.rate:>11,.0f}{t.rate_piped:>15,.0f}{t.real_work:>11.0%}"
            )
        for label in labels:
            base = baseline_of(label, labels) if label.startswith("today") else None
            if base:
                t, b = timings[op.name, label], timings[op.name, base]
                print(
                    f"  {'':<22}{label + ' ÷ before':<24}{ratio(t.usec, b.usec):>9}"
                    f"{ratio(b.rate, t.rate):>11}{ratio(b.rate_piped, t.rate_piped):>15}"
                    "   (cost: today ÷ before)"
                )

    print(
        f"\n3. Redis memory per waiting user ({memory_users:,} joins, INFO used_memory delta)"
        f" [{spent['memory']:.0f} s]"
    )
    for size, per_user in memory.items():
        print(f"  lobbies of {size:<3} with the joins' replay records   {per_user:>8,.0f} bytes")
    for label, per_user in memory_by_impl.items():
        times = f"  ({ratio(per_user, memory_by_impl[mini])} minimal)" if label != mini else ""
        print(f"  lobbies of {MAX_USERS}, {label:<32}{per_user:>8,.0f} bytes{times}")
    print(f"\n({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
