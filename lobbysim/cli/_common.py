"""What every command shares: the parser class, argument types, option definitions, extras,
the error policy.

Errors are one line on stderr and exit status 2, never a traceback, never a password. One
mistake reads the same in every command (and in Locust's options): ``lobbysim: error:
--max-users must be in 1..1000, got 0``, the wording and the limits being lobbycore's own.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import re
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn, TypeAlias, TypeVar

from lobbycore import LobbyError, check_redis_url, redact_text
from lobbycore.defaults import DEFAULT_MAX_USERS, MAX_SHARDS, MAX_USERS_LIMIT
from lobbycore.validate import must_be, number_range, whole_range

EXIT_VIOLATIONS = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3
"""A headless run lost Redis for a while: its counts and audit cover only part of it."""
EXIT_NO_POOL = 4
"""The pool asked for holds no key (``audit``; ``watch --headless`` for the whole run)."""
EXIT_INTERRUPTED = 130

T = TypeVar("T")

if TYPE_CHECKING:
    Commands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]
    """What each command module's ``add_parser`` adds its sub-parser to."""

EXTRAS: dict[str, tuple[str, ...]] = {
    "tui": ("textual",),
    "load": ("locust", "matplotlib"),
    "embedded": ("fakeredis", "lupa"),  # fakeredis runs Lua scripts through lupa
    "serve": ("fastapi", "uvicorn"),
}
"""Each optional extra of the lobbysim package, and the modules it installs."""


class UsageError(Exception):
    """Bad input from the command line: reported in one line, exit 2."""


# argparse's "argument -u/--users: <why>", which names the option by all its flags.
_ARGUMENT_ERROR = re.compile(r"argument (?:[^:/ ]+/)*(?P<flag>--?[^:/ ]+): (?P<why>.*)", re.DOTALL)


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse prints the whole usage block; one line is easier to read in a log. A bad
        # value reads as the handlers' and Locust's errors do: "lobbysim: error: --flag why".
        bad_value = _ARGUMENT_ERROR.fullmatch(message)
        if bad_value is not None:
            line = f"{bad_value['flag']} {bad_value['why']}"
        else:
            line = f"{message} (see '{self.prog} --help')"
        self.exit(EXIT_USAGE, f"lobbysim: error: {line}\n")


def require_extra(command: str, extra: str) -> None:
    """UsageError naming the extra if one of its modules is not installed."""
    if any(importlib.util.find_spec(module) is None for module in EXTRAS[extra]):
        raise UsageError(
            f"'lobbysim {command}' needs the {extra} extra: pip install 'lobbysim[{extra}]'"
        )


# -- argument types: each raises ArgumentTypeError, which argparse turns into one line --------


def int_in(low: int, high: int | None = None) -> Callable[[str], int]:
    """A whole number in ``low..high`` (no upper bound if ``high`` is None)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(must_be(whole_range(low, high), value))
        return value

    return parse


positive_int = int_in(1)
shard_count = int_in(1, MAX_SHARDS)
SHARDS_HELP = "the pool's shard count, as given to LobbyStore(shards=N) (default 1)"
lobby_size = int_in(1, MAX_USERS_LIMIT)
"""--max-users: a lobby's size, within the stores' own limit."""


def add_max_users(
    parser: argparse.ArgumentParser,
    help: str = f"lobby size (default {DEFAULT_MAX_USERS})",
    *,
    default: int | None = DEFAULT_MAX_USERS,
) -> None:
    """--max-users, the same option (range, wording) in every command that takes one."""
    parser.add_argument("--max-users", type=lobby_size, default=default, help=help)


def finite_float(text: str) -> float:
    """Any finite number (ranges that depend on other options are checked by the command)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def float_in(
    low: float, high: float | None = None, *, low_included: bool = False
) -> Callable[[str], float]:
    """A finite number above ``low`` (or equal to it if ``low_included``), at most ``high``."""
    bounds = number_range(low, high, low_included=low_included)

    def parse(text: str) -> float:
        value = finite_float(text)
        above = value >= low if low_included else value > low
        if not above or (high is not None and value > high):
            raise argparse.ArgumentTypeError(must_be(bounds, value))
        return value

    return parse


positive_float = float_in(0.0)
MAX_RUN_SECONDS = 7 * 24 * 3600.0
"""A headless run's --duration: a week at most (more is a typo, and would never end)."""
run_seconds = float_in(0.0, MAX_RUN_SECONDS)


def comma_list(item: Callable[[str], T]) -> Callable[[str], list[T]]:
    """A comma-separated list, each item parsed (and checked) by ``item``."""

    def parse(text: str) -> list[T]:
        items = [part.strip() for part in text.split(",") if part.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
        return [item(part) for part in items]

    return parse


def choice_of(choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in choices:
            raise argparse.ArgumentTypeError(f"expected one of {', '.join(choices)}, got {text!r}")
        return text

    return parse


def add_redis_url(parser: argparse.ArgumentParser, help: str, *, required: bool = False) -> None:
    """--redis-url. Checked by :func:`run_handler` before the command runs, with
    lobbycore's own check, so a bad URL reads the same from the flag, from REDIS_URL (checked
    when it is used) and in Locust."""
    parser.add_argument("--redis-url", required=required, help=help)


POOL_RULE = (
    "A run never deletes or disturbs what it did not create: by default it works in a fresh "
    "pool and deletes it at the end (unless --keep). Given --pool naming a pool that "
    "already holds keys, it refuses (exit 2) unless --reuse-pool is given; a reused pool "
    "is never deleted{reset}."
)


def add_pool_options(parser: argparse.ArgumentParser, pool_help: str) -> None:
    """--pool, --reuse-pool and --keep, shared by the commands that write to a pool."""
    parser.add_argument("--pool", help=pool_help)
    parser.add_argument(
        "--reuse-pool",
        action="store_true",
        help="run in a --pool that already holds keys; its keys are then never deleted",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the pool's keys afterwards (default: delete the pool the run created)",
    )


def url_or_env(url: str | None) -> str | None:
    """``--redis-url``, else ``REDIS_URL``, else None (lobbycore.connect checks either)."""
    return url or os.environ.get("REDIS_URL") or None


def summary_line(summary: dict[str, str]) -> str:
    return " ".join(f"{key}={value}" for key, value in summary.items())


def headless_status(*, violations: int, incomplete: bool, pool_missing: bool = False) -> int:
    """A headless run's exit status: what it found first, then what it could not measure."""
    if violations:
        return EXIT_VIOLATIONS
    if pool_missing:
        return EXIT_NO_POOL
    return EXIT_INCOMPLETE if incomplete else 0


# -- the error policy -------------------------------------------------------------------------


def one_line(exc: BaseException, url: str | None = None) -> str:
    """The error in one line; ``url`` redacted, and its secrets masked wherever they show."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return redact_text(text, url) if url else text


def run_handler(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a command's handler under the error policy."""
    url = getattr(args, "redis_url", None) or os.environ.get("REDIS_URL")
    try:
        if getattr(args, "redis_url", None) is not None:
            check_redis_url(args.redis_url)  # InvalidInput: the same line as lobbycore.connect's
        return int(handler(args))
    except (UsageError, LobbyError) as exc:
        print(f"lobbysim: error: {one_line(exc, url)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:  # one line, never a traceback (unless asked for)
        if os.environ.get("LOBBYSIM_DEBUG"):
            raise
        print(
            f"lobbysim: error: {type(exc).__name__}: {one_line(exc, url)} "
            "(set LOBBYSIM_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return EXIT_USAGE
