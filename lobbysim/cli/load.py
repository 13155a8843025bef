"""``lobbysim load``: the bundled Locust scenarios, run from wherever lobbysim is installed.

Locust replaces this process (``os.execv``), so it runs as if ``locust`` had been typed:
Ctrl-C and SIGTERM reach it directly (its audit still prints), and the exit status is its
own. Locust is never imported here: it monkey-patches the process it runs in.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ._common import UsageError, require_extra

if TYPE_CHECKING:
    from ._common import Commands

NAME = "load"
PACKAGE = "locustfiles"
LOBBY, HTTP, STEP_LOAD = "lobby.py", "http.py", "step_load.py"
SCENARIOS = ("JoinStorm", "JoinAndBook", "Churn", "PartyJoin", "OpenJoins")
"""The user classes of locustfiles/lobby.py (its ``__all__``; a test keeps them in step)."""
HTTP_SCENARIOS = ("LobbyBuyer",)
"""The user classes of locustfiles/http.py."""
STEP_LOAD_SHAPE = "StepLoad"
"""Named like a scenario, it adds locustfiles/step_load.py (a load shape) to ``-f``."""
HTTP_FLAG, WEB_FLAG, PATH_FLAG = "--http", "--web", "--locustfile"
MODE_FLAGS = ("--headless", "--autostart", "--worker")
"""Locust options that choose how a run starts: given one, ``--headless`` is not added."""
HELP_FLAGS = ("-h", "--help")

DESCRIPTION = f"""\
Run the bundled Locust scenarios, as installed, from any directory: locustfiles/lobby.py
(simulated buyers straight on Redis), or locustfiles/http.py with --http (buyers of an
HTTP lobby service, e.g. lobbysim serve's). Every argument but --http, --web and
--locustfile goes to Locust unchanged: scenario names, -u/-r/-t, --processes,
--master/--worker, and the scenarios' own options (--redis-url, --pool, --strategy, ...).
Headless unless --web, --headless, --autostart or --worker is given. The exit status is
Locust's: 1 if the end-of-run audit found a broken guarantee.

scenarios (all of them when none is named):
  {", ".join(SCENARIOS)}
  {STEP_LOAD_SHAPE}: a step load (six steps up to -u over -t), beside any of them
  with --http: {", ".join(HTTP_SCENARIOS)}"""

EPILOG = """\
Locust's options, the scenarios' included: lobbysim load -- --help (everything after --
goes to Locust untouched). To run Locust yourself (your locust.conf, --master/--worker on
several machines, a Locust operator): locust -f "$(lobbysim load --locustfile)" ...

examples:
  lobbysim load JoinStorm -u 500 -r 500 -t 1m --redis-url redis://127.0.0.1:6379/0
  lobbysim load --http --host http://127.0.0.1:8000 -u 50 -r 50 -t 30s
  lobbysim load --processes 2 -u 1000 -r 1000 -t 1m --redis-url redis://127.0.0.1:6379/0"""


def add_parser(commands: Commands) -> None:
    load = commands.add_parser(
        NAME,
        help="run the bundled Locust scenarios (any Locust option passes through)",
        description=DESCRIPTION,
        epilog=EPILOG,
        usage="%(prog)s [--http] [--web] [--locustfile] [SCENARIO ...] [LOCUST OPTION ...]",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        # Locust's options pass through: none may be read as an abbreviation of these.
        allow_abbrev=False,
    )
    load.add_argument(HTTP_FLAG, action="store_true", help="the HTTP scenarios (http.py)")
    load.add_argument(
        WEB_FLAG,
        action="store_true",
        help="open Locust's web UI instead of running headless (--web-host, --web-port)",
    )
    load.add_argument(
        PATH_FLAG,
        action="store_true",
        help="print the installed locustfile's path, for locust -f, and exit",
    )
    load.set_defaults(handler=run, passes_through=True)


def installed_locustfile(name: str) -> Path:
    """The installed ``locustfiles/<name>``, found without importing the package (nothing
    outside a Locust process may: it imports Locust)."""
    spec = importlib.util.find_spec(PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder, name)
        if path.is_file():
            return path.resolve()
    raise UsageError(f"lobbysim's {PACKAGE}/{name} is not installed: reinstall lobbysim")


@dataclass(frozen=True)
class LoadArgs:
    http: bool
    web: bool
    print_path: bool
    step_load: bool
    locust: list[str]
    """For Locust, in the order given."""

    @property
    def locustfiles(self) -> str:
        """``-f``'s value: the scenarios' file, and the step load's if asked for."""
        names = [HTTP if self.http else LOBBY] + ([STEP_LOAD] if self.step_load else [])
        return ",".join(str(installed_locustfile(name)) for name in names)


def split(argv: Sequence[str]) -> LoadArgs:
    """lobbysim's flags apart from Locust's arguments, whose order is kept (argparse would
    interleave option values and scenario names); after ``--`` everything is Locust's."""
    args = list(argv)
    cut = args.index("--") if "--" in args else len(args)
    ours, after = args[:cut], args[cut + 1 :]
    locust = [a for a in ours if a not in (HTTP_FLAG, WEB_FLAG, PATH_FLAG, STEP_LOAD_SHAPE)]
    return LoadArgs(
        http=HTTP_FLAG in ours,
        web=WEB_FLAG in ours,
        print_path=PATH_FLAG in ours,
        step_load=STEP_LOAD_SHAPE in ours,
        locust=locust + after,
    )


def locust_main(preload: str | None = None) -> str:
    """What the ``locust`` script runs (``python -m locust`` calls itself __main__.py in its
    messages), after running the ``preload`` locustfiles (comma-separated) if given."""
    code = "import sys; from locust.main import main; sys.argv[0] = 'locust'; "
    if preload:
        code += f"import runpy; [runpy.run_path(f) for f in {preload.split(',')!r}]; "
    return code + "sys.exit(main())"


def locust_command(load: LoadArgs) -> list[str]:
    """Locust on the installed locustfile, with the user's arguments."""
    files = load.locustfiles
    # Locust prints --help before it loads the locustfile: loaded first, the scenarios'
    # options are listed too (only then: a run loading it twice would define them twice).
    asks_help = any(flag in load.locust for flag in HELP_FLAGS)
    # -P: a locust.py in the working directory must not shadow Locust.
    command = [sys.executable, "-P", "-c", locust_main(files if asks_help else None), "-f", files]
    if not load.web and not any(flag in load.locust for flag in MODE_FLAGS):
        command.append("--headless")
    return command + load.locust


def run(args: argparse.Namespace) -> int:
    argv: list[str] = args.argv
    load = split(argv[argv.index(NAME) + 1 :])
    if "-f" in load.locust:
        raise UsageError(
            "lobbysim load runs the bundled locustfile; for your own, run locust -f FILE "
            "(lobbysim load --locustfile prints the bundled one's path)"
        )
    if load.print_path:
        if load.locust or load.web:
            raise UsageError(
                "--locustfile prints the locustfile's path and takes only --http or StepLoad"
            )
        print(load.locustfiles)
        return 0
    if load.web and "--headless" in load.locust:
        raise UsageError("--web opens Locust's web UI and --headless runs without it: give one")
    require_extra(NAME, "load")
    command = locust_command(load)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, command)
