"""Where a script's instructions go, from the callgrind profiles bench_server.py keeps.

    .venv/bin/python benchmarks/bench_server.py --profiles /tmp/profiles
    .venv/bin/python benchmarks/callgrind_parts.py /tmp/profiles/callgrind.join-today.out ...

Per script call (EVALSHA or FCALL), by part: the Redis commands the script runs, the hand-off
of each redis.call between Lua and Redis (Lua numbers turned into command arguments, replies
turned into Lua values, the rest: argv objects, command lookup, checks), Lua numbers turned
into strings inside Lua (string.format, tostring, ``..``), the Lua interpreter itself (the
rest of the script's run: bytecode, tables, strings, closures), the call's set-up (KEYS and
ARGV tables, the reply) and everything outside the script (reading, parsing, replying).
Then the commands run inside the script, by cost.

Works on a stripped redis-server (Debian's): the parts are found through exported functions
(lua_pcall, scriptCall, call, parseReply, the libc printf family), and the static function
behind redis.call as the caller of scriptCall. Needs callgrind_annotate (valgrind).
"""

from __future__ import annotations

import argparse
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

_LINE = re.compile(r"^\s*([\d,]+) \([ \d.]+%\)\s+([*<>])?\s*(\S.*?)(?: \((\d[\d,]*)x\))? \[")


def _name(raw: str) -> str:
    # "???:scriptCall" or "./debug/snprintf_chk.c:__snprintf_chk": the function's name.
    return raw.rsplit(":", 1)[-1]


@dataclass
class Profile:
    """Inclusive instructions per function, and each function's callers (with call counts)."""

    total: int = 0
    inclusive: dict[str, int] = field(default_factory=dict)
    callers: dict[str, dict[str, int]] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> Profile:
        text = subprocess.run(
            ["callgrind_annotate", "--inclusive=yes", "--tree=caller", "--threshold=100", str(path)],
            capture_output=True, text=True, check=True, timeout=120,
        ).stdout  # fmt: skip
        profile = cls()
        pending: dict[str, int] = {}
        for line in text.splitlines():
            if "PROGRAM TOTALS" in line:
                profile.total = int(line.split()[0].replace(",", ""))
                continue
            match = _LINE.match(line)
            if match is None:
                pending = {} if not line.strip() else pending
                continue
            cost, mark, name, calls = match.groups()
            if mark == "<":
                pending[_name(name)] = int((calls or "0").replace(",", ""))
            elif mark == "*":
                function = _name(name)
                profile.inclusive[function] = int(cost.replace(",", ""))
                profile.callers[function] = pending
                pending = {}
        return profile

    def cost(self, function: str) -> int:
        return self.inclusive.get(function, 0)


def parts(profile: Profile) -> tuple[int, list[tuple[str, int]], list[tuple[str, int]]]:
    """(script calls, [(part, instructions)], [(command, instructions)]) for a profile."""
    entry = "fcallCommand" if profile.cost("fcallCommand") else "evalShaCommand"
    calls = sum(profile.callers.get(entry, {}).values()) or 1
    # redis.call and redis.pcall: the (static, unnamed when stripped) callers of scriptCall.
    redis_call = sum(map(profile.cost, profile.callers.get("scriptCall", {})))
    commands = profile.cost("call'2")
    to_args = profile.cost("__snprintf_chk")
    to_lua = profile.cost("parseReply")
    handoff = redis_call - commands - to_args - to_lua
    # string.format and Lua's number-to-string: the Lua-side callers of sprintf.
    in_lua_numbers = sum(map(profile.cost, profile.callers.get("__sprintf_chk", {})))
    interpreter = profile.cost("lua_pcall") - redis_call - in_lua_numbers
    set_up = profile.cost(entry) - profile.cost("lua_pcall")
    outside = profile.total - profile.cost(entry)
    found = [
        ("Redis commands run by the script", commands),
        ("redis.call hand-off: Lua numbers -> arguments (snprintf)", to_args),
        ("redis.call hand-off: replies -> Lua values", to_lua),
        ("redis.call hand-off: the rest (argv, lookup, checks)", handoff),
        ("Lua: string.format and number -> string", in_lua_numbers),
        ("Lua interpreter: the rest of the script", interpreter),
        (f"{entry}: KEYS/ARGV, reply, set-up", set_up),
        ("outside the script: read, parse, reply, event loop", outside),
    ]
    by_command = sorted(
        (
            (name, cost)
            for name, cost in profile.inclusive.items()
            if name.endswith("Command") and "call'2" in profile.callers.get(name, {})
        ),
        key=lambda item: -item[1],
    )
    return calls, found, by_command


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("profiles", nargs="+", type=Path)
    args = parser.parse_args()
    for path in args.profiles:
        profile = Profile.read(path)
        calls, found, by_command = parts(profile)
        print(f"{path.name}: {profile.total / calls:,.0f} instructions per call ({calls:,} calls)")
        for name, cost in found:
            print(f"  {name:<58}{cost / calls:>10,.0f}{cost / profile.total:>8.1%}")
        print("  commands inside the script (instructions per script call, calls per call):")
        for name, cost in by_command:
            per = sum(profile.callers[name].values()) / calls
            print(f"    {name:<56}{cost / calls:>10,.0f}{per:>8.2f}")


if __name__ == "__main__":
    main()
