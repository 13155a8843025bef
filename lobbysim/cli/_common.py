"""What every command shares: the parser class, argument types, option definitions, extras,
the error policy.

Errors are one line on stderr and exit status 2, never a traceback, never a password. One
mistake reads the same in every command (and in Locust's options): ``lobbysim: error:
--max-users must be in 1..1000, got 0``, the wording and the limits being lobbycore's own.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn, TypeAlias

from lobbycore import LobbyError, redact_text
from lobbysim.run.options import (
    add_to_argparse,
    argparse_type,
    number_in,
    one_of,
    whole_number,
)
from lobbysim.run.redis import given_url, redis_url

EXIT_VIOLATIONS = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3
"""A headless run lost Redis for a while: its counts and audit cover only part of it."""
EXIT_NO_POOL = 4
"""The pool asked for holds no key (``audit``; ``watch --headless`` for the whole run)."""
EXIT_INTERRUPTED = 130


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
# The converters (and their wording) are the run layer's, so a flag of a command's own reads
# as the run options do.


def int_in(low: int, high: int | None = None) -> Callable[[str], int]:
    """A whole number in ``low..high`` (no upper bound if ``high`` is None)."""
    return argparse_type(whole_number(low, high))


positive_int = int_in(1)


def float_in(
    low: float, high: float | None = None, *, low_included: bool = False
) -> Callable[[str], float]:
    """A finite number above ``low`` (or equal to it if ``low_included``), at most ``high``."""
    return argparse_type(number_in(low, high, low_included=low_included))


positive_float = float_in(0.0)
MAX_RUN_SECONDS = 7 * 24 * 3600.0
"""A headless run's --duration: a week at most (more is a typo, and would never end)."""
run_seconds = float_in(0.0, MAX_RUN_SECONDS)


def choice_of(choices: tuple[str, ...]) -> Callable[[str], str]:
    return argparse_type(one_of(choices))


def add_redis_url(parser: argparse.ArgumentParser, help: str, *, required: bool = False) -> None:
    """--redis-url (``help`` from :func:`lobbysim.run.redis.url_help`, which states the
    rule). The flag, else REDIS_URL, is checked by :func:`run_handler` before the command
    runs, with lobbycore's own check, so a bad URL reads the same from either and in Locust."""
    parser.add_argument("--redis-url", required=required, help=help)


POOL_RULE = (
    "A run never deletes or disturbs what it did not create: by default it works in a fresh "
    "pool and deletes it at the end (unless --keep). Given --pool naming a pool that "
    "already holds keys, it refuses (exit 2) unless --reuse-pool is given; a reused pool "
    "is never deleted{reset}."
)


def add_pool_options(parser: argparse.ArgumentParser, pool_help: str) -> None:
    """--pool, --reuse-pool and --keep, shared by the commands that write to a pool."""
    add_to_argparse(parser, ["pool"], help={"pool": pool_help})
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
    url = given_url(getattr(args, "redis_url", None))
    try:
        if hasattr(args, "redis_url"):
            redis_url(args.redis_url)  # the flag, else REDIS_URL: refused before anything runs
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
