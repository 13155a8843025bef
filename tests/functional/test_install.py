"""Install lobbysim the way a user does: build the wheel, install it into fresh virtualenvs
(never the project's .venv) and run the command from a directory outside the repository.

Every other test runs on the editable install, which sees the whole source tree; only this
one notices a module or data file the wheel leaves out, or an extra that pulls too much.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
# What each extra adds; the base install must import none of them.
EXTRA_MODULES = ("textual", "locust", "matplotlib", "fakeredis", "fastapi", "uvicorn")
# Build byproducts and local state that a user's copy of the source would not have.
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", "*.egg-info", "build", "dist", ".*_cache", ".hypothesis", "out"
)
# A Python warning class in the build log (UserWarning, SetuptoolsDeprecationWarning, ...);
# setuptools' lowercase "warning: byte-compiling is disabled" notes are not packaging faults.
PYTHON_WARNING = re.compile(r"Warning\b")


def run(*command: str | Path, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run with an environment that points at no virtualenv and adds nothing to sys.path."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env |= {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass(frozen=True)
class Venv:
    path: Path

    @classmethod
    def create(cls, path: Path, cwd: Path) -> Venv:
        # Made from the interpreter's base installation: nothing of the project's .venv.
        created = run(sys.executable, "-m", "venv", path, cwd=cwd, timeout=120)
        assert created.returncode == 0, created.stderr
        return cls(path)

    def bin(self, name: str) -> Path:
        return self.path / "bin" / name

    def pip_install(self, requirement: str, cwd: Path) -> None:
        # --no-compile: byte-compiling Locust's and matplotlib's trees is most of the time.
        done = run(self.bin("python"), "-m", "pip", "install", "--no-compile", requirement, cwd=cwd)
        assert done.returncode == 0, done.stdout + done.stderr
        about_us = [x for x in done.stderr.splitlines() if "WARNING" in x and "lobbysim" in x]
        assert about_us == [], about_us  # e.g. "does not provide the extra"


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working directory outside the repository, so nothing is imported from the source."""
    folder = tmp_path_factory.mktemp("elsewhere")
    assert not folder.resolve().is_relative_to(REPO)
    return folder


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory, outside: Path) -> Path:
    """The wheel, built from a clean copy of the source by a fresh venv's pip."""
    work = tmp_path_factory.mktemp("build")
    source = work / "source"
    shutil.copytree(REPO, source, ignore=NOT_SOURCE)
    builder = Venv.create(work / "venv", outside)
    built = run(
        builder.bin("python"), "-m", "pip", "wheel", "--no-deps", "-v", "-w", work / "dist",
        source, cwd=outside,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    warnings = [x for x in (built.stdout + built.stderr).splitlines() if PYTHON_WARNING.search(x)]
    assert warnings == [], "\n".join(warnings)
    (found,) = (work / "dist").glob("lobbysim-*.whl")
    # A venv is a few hundred MB: keep only what a failure needs looking at.
    shutil.rmtree(builder.path)
    shutil.rmtree(source)
    return found


def test_the_wheel_with_every_extra_runs_the_commands_outside_the_repo(
    wheel: Path, outside: Path, tmp_path: Path
) -> None:
    venv = Venv.create(tmp_path / "venv", outside)
    venv.pip_install(f"{wheel}[all]", outside)

    where = run(
        venv.bin("python"), "-c", "import lobbycore, simulator; print(simulator.__file__)",
        cwd=outside,
    )  # fmt: skip
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(venv.path)  # the installed copy

    lobbysim = venv.bin("lobbysim")
    demo = run(lobbysim, "demo", "--headless", "--duration", "2", cwd=outside, timeout=120)
    assert demo.returncode == 0, demo.stderr
    last = demo.stdout.strip().splitlines()[-1]
    assert last.startswith("strategy=atomic ") and " violations=0 " in last, demo.stdout

    race = run(lobbysim, "race", cwd=outside, timeout=120)
    assert race.returncode == 0, race.stderr
    summaries = {x.split()[0]: x for x in race.stdout.splitlines() if x.startswith("strategy=")}
    assert " ok=true " in summaries["strategy=atomic"], race.stdout
    assert " ok=false " in summaries["strategy=naive"], race.stdout

    version = run(lobbysim, "--version", cwd=outside, timeout=60)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"lobbysim {VERSION}"
    shutil.rmtree(venv.path)


def test_the_base_wheel_is_the_engine_alone(wheel: Path, outside: Path, tmp_path: Path) -> None:
    venv = Venv.create(tmp_path / "venv", outside)
    venv.pip_install(str(wheel), outside)

    engine = run(
        venv.bin("python"), "-c", "import lobbycore; print(lobbycore.__file__)", cwd=outside
    )
    assert engine.returncode == 0, engine.stderr
    assert Path(engine.stdout.strip()).is_relative_to(venv.path)

    probe = "import importlib.util as u, sys; print(*[m for m in sys.argv[1:] if u.find_spec(m)])"
    present = run(venv.bin("python"), "-c", probe, *EXTRA_MODULES, cwd=outside)
    assert present.returncode == 0, present.stderr
    assert present.stdout.split() == []

    demo = run(venv.bin("lobbysim"), "demo", cwd=outside, timeout=60)
    assert demo.returncode == 2, demo.stdout + demo.stderr
    (line,) = demo.stderr.strip().splitlines()
    assert "pip install 'lobbysim[tui]'" in line
    shutil.rmtree(venv.path)
