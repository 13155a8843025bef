"""What a leaner join could cost: the cost probe (join_probe.lua) beside today's join and the
minimal join, instructions per call under callgrind (bench_server.py's machinery).

    .venv/bin/python benchmarks/experiments/bench_probe.py [--quick]

The probe is the common path of a join written as leanly as the minimal join, with every
write today's guarantees need; "probe + checks" adds the reads today's join makes on that
path for its fail-closed and replay guarantees (see join_probe.lua). Not a test, and not
used by lobbycore: it prices designs. Needs valgrind.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench_server import (
    MAX_USERS,
    OPERATIONS,
    Argv,
    Callgrind,
    Minimal,
    Ours,
    ident,
    instructions_per_call,
    ratio,
)

from lobbycore.defaults import DEFAULT_LOBBY_TTL, DEFAULT_REPLAY_WINDOW

PROBE = Path(__file__).resolve().parent / "join_probe.lua"


class Probe(Minimal):
    """The probe (join only), in the minimal join's pool layout."""

    label = "probe"
    checks = ""

    def __init__(self, client: redis.Redis) -> None:
        super().__init__(client)
        self.shas["probe"] = client.script_load(PROBE.read_text(encoding="utf-8"))

    def join(self, i: int) -> Argv:
        return self._argv(
            "probe", str(MAX_USERS), ident("B", i), ident("M", i), ident("S", i),
            f"{DEFAULT_LOBBY_TTL * 1000:.0f}", f"{DEFAULT_REPLAY_WINDOW * 1000:.0f}",
            self.checks,
        )  # fmt: skip


class CheckedProbe(Probe):
    label = "probe + checks"
    checks = "checked"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="100 calls instead of 500")
    args = parser.parse_args()
    n, warm = (100, 10) if args.quick else (500, 50)
    print(f"$ .venv/bin/python benchmarks/experiments/bench_probe.py {' '.join(sys.argv[1:])}")
    join = OPERATIONS[0]
    with Callgrind() as cg:
        client = cg.server.client()
        impls = (Minimal(client), Probe(client), CheckedProbe(client), Ours(client))
        found = {}
        for impl in impls:
            found[impl.label], done = instructions_per_call(cg, client, n, warm, impl, join)
            if done < 0.99:
                raise SystemExit(f"{impl.label}: {done:.0%} of calls joined")
    print(f"\nInstructions per join (callgrind, {n} calls after {warm} warm-up calls)")
    for label, count in found.items():
        print(f"  {label:<16} {count:>10,.0f}   {ratio(count, found['minimal']):>7} minimal")


if __name__ == "__main__":
    main()
