"""The Lua script set, read from the package's ``lua/`` folder.

Each script is ``common.lua`` followed by the operation's own file, so the shared helpers
(indexes, expiry, events) are written once and every operation stays a single EVALSHA.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

SCRIPT_NAMES = ("join", "leave", "book", "lookup", "stats", "sweep", "seats", "events")


def _read(name: str) -> str:
    return files(__package__).joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")


@cache
def script_sources() -> dict[str, str]:
    """Script name -> full Lua source (prelude + body)."""
    common = _read("common")
    return {name: f"{common}\n-- ---- {name}.lua ----\n{_read(name)}" for name in SCRIPT_NAMES}
