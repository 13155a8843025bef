"""The ``lobbysim`` command line: one module per command, each with its options and handler.

Commands import what they need (the simulator, Textual, Locust, fakeredis) only when run,
so ``lobbysim --help`` and ``lobbysim audit`` work on the base install.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from . import audit, capacity, demo, load, race, serve, watch
from ._common import Parser, run_handler

COMMANDS = (race, demo, watch, load, capacity, audit, serve)
"""In the order ``--help`` lists them."""


def _version() -> str:
    try:
        return version("lobbysim")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="lobbysim",
        description=(
            "lobbysim: a ticketing lobby engine on Redis (lobbycore), its simulator and load tests."
        ),
        epilog="Run 'lobbysim COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"lobbysim {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args, unknown = parser.parse_known_args(argv)
    if unknown and not getattr(args, "passes_through", False):  # as parse_args would
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    args.argv = argv
    if args.command is None:
        parser.print_help()
        return 0
    return run_handler(args.handler, args)


__all__ = ["build_parser", "main"]
