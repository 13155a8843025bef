"""lobbysim as a user installs it: the wheel built from a clean copy of this checkout,
installed into fresh virtualenvs (never the project's .venv), used from a directory outside
the repository. Shared by test_install.py and test_readme_commands.py.

Every other test runs on the editable install, which sees the whole source tree; only these
notice a module or data file the wheel leaves out, or a command that works only from the
checkout.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Build byproducts and local state that a user's copy of the source would not have.
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", "*.egg-info", "build", "dist", ".*_cache", ".hypothesis",
    "out", "site",
)  # fmt: skip
# A Python warning class in the build log (UserWarning, SetuptoolsDeprecationWarning, ...);
# setuptools' lowercase "warning: byte-compiling is disabled" notes are not packaging faults.
PYTHON_WARNING = re.compile(r"Warning\b")


def clean_env(path_first: Path | None = None) -> dict[str, str]:
    """This process's environment pointing at no virtualenv and adding nothing to sys.path;
    ``path_first`` (a venv's bin) goes first on PATH, and no PATH entry inside the checkout
    is kept, so a command can only come from that venv or the system."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env |= {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    kept = [p for p in env.get("PATH", "").split(os.pathsep) if p and not _in_repo(p)]
    env["PATH"] = os.pathsep.join(([str(path_first)] if path_first else []) + kept)
    return env


def _in_repo(path: str) -> bool:
    return Path(path).resolve().is_relative_to(REPO)


def run(
    *command: str | Path, cwd: Path, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env if env is not None else clean_env(),
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

    def env(self) -> dict[str, str]:
        """An environment in which this venv's commands come first, as after ``activate``."""
        return clean_env(self.path / "bin") | {"VIRTUAL_ENV": str(self.path)}

    def pip_install(self, requirement: str, cwd: Path) -> None:
        # --no-compile: byte-compiling Locust's and matplotlib's trees is most of the time.
        done = run(self.bin("python"), "-m", "pip", "install", "--no-compile", requirement, cwd=cwd)
        assert done.returncode == 0, done.stdout + done.stderr
        about_us = [x for x in done.stderr.splitlines() if "WARNING" in x and "lobbysim" in x]
        assert about_us == [], about_us  # e.g. "does not provide the extra"

    def remove(self) -> None:
        # A venv with every extra is a few hundred MB: keep none once its tests are done.
        shutil.rmtree(self.path, ignore_errors=True)


def outside_folder(parent: Path) -> Path:
    """A working directory outside the repository, so nothing is imported from the source."""
    folder = parent / "elsewhere"
    folder.mkdir(parents=True, exist_ok=True)
    assert not folder.resolve().is_relative_to(REPO)
    return folder


def build_wheel(work: Path, outside: Path) -> Path:
    """The wheel, built from a clean copy of the source by a fresh venv's pip, with no
    Python warning in the build log."""
    source = work / "source"
    shutil.copytree(REPO, source, ignore=NOT_SOURCE)
    builder = Venv.create(work / "builder", outside)
    built = run(
        builder.bin("python"), "-m", "pip", "wheel", "--no-deps", "-v", "-w", work / "dist",
        source, cwd=outside,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    warnings = [x for x in (built.stdout + built.stderr).splitlines() if PYTHON_WARNING.search(x)]
    assert warnings == [], "\n".join(warnings)
    (found,) = (work / "dist").glob("lobbysim-*.whl")
    builder.remove()
    shutil.rmtree(source)
    return found


def installed(work: Path, extras: str = "") -> tuple[Venv, Path]:
    """A fresh venv holding the wheel built from this checkout (``extras`` e.g. "[all]"),
    and a working directory outside the repository."""
    outside = outside_folder(work)
    wheel = build_wheel(work / "build", outside)
    venv = Venv.create(work / "venv", outside)
    venv.pip_install(f"{wheel}{extras}", outside)
    return venv, outside
