"""Install lobbysim the way a user does: build the wheel, install it into fresh virtualenvs
(never the project's .venv) and run the command from a directory outside the repository
(the machinery is tests/wheel.py). The wheel with every extra is installed and used by
test_readme_commands.py, which runs every command of the docs from it; here, the base
install and the wheel's contents.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tests.wheel import Venv, build_wheel, outside_folder, run

# What each extra adds; the base install must import none of them.
EXTRA_MODULES = ("textual", "locust", "matplotlib", "fakeredis", "fastapi", "uvicorn")


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return outside_folder(tmp_path_factory.mktemp("install"))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory, outside: Path) -> Path:
    return build_wheel(tmp_path_factory.mktemp("build"), outside)


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
    venv.remove()


def test_the_wheel_has_four_import_roots(wheel: Path) -> None:
    """The engine, the simulator, the Locust scenarios and the applications (the CLI, the
    HTTP service and the test servers live in ``lobbysim``), and ``python -m lobbysim``."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    roots = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert roots == {"lobbycore", "simulator", "locustfiles", "lobbysim"}
    assert {"lobbysim/__main__.py", "lobbysim/cli/__init__.py", "lobbysim/serve/app.py"} <= set(
        names
    )
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    with zipfile.ZipFile(wheel) as archive:
        assert "lobbysim = lobbysim.cli:main" in archive.read(entry_points).decode()
