"""Save the docs' dashboard screenshots (SVG, as Textual renders them).

.venv/bin/python docs/make_screenshots.py
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from lobbysim.cli._redis import open_embedded
from simulator import SimConfig, Simulation
from simulator.dashboard import LobbySimApp

DOCS = Path(__file__).resolve().parent


async def shoot(strategy: str, filename: str, seconds: float) -> None:
    sim = Simulation(open_embedded(), SimConfig(seed=4, rate=60.0, strategy=strategy))
    app = LobbySimApp(sim)
    async with app.run_test(size=(150, 42)) as pilot:
        await pilot.pause(seconds)
        app.save_screenshot(filename, str(DOCS))
    print(f"{DOCS / filename}: {sim.summary()['violations']} violations")


async def main() -> None:
    await shoot("atomic", "dashboard.svg", 4.0)
    await shoot("naive", "dashboard-naive.svg", 4.0)


if __name__ == "__main__":
    asyncio.run(main())
