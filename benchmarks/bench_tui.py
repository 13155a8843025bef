"""Dashboard refresh cost with thousands of simulated buyers (not a test).

    .venv/bin/python benchmarks/bench_tui.py

Runs the real dashboard headless (Textual's test driver) over a simulation that piles up
about 2,000 waiting buyers in about 500 lobbies (a long checkout keeps full lobbies on
the board), and reports how often the screen refreshed and what each refresh cost.
"""

from __future__ import annotations

import asyncio
import time

from lobbysim.cli._redis import open_embedded
from simulator import SimConfig, Simulation
from simulator.dashboard import LobbySimApp
from simulator.dashboard.widgets import LobbyGrid


async def main(measure_seconds: float = 5.0, lobbies_wanted: int = 500) -> None:
    sim = Simulation(
        open_embedded(),
        SimConfig(
            rate=300.0, patience=60.0, checkout=60.0, party_share=0.0, seed=1, lobby_ttl=None
        ),
    )
    app = LobbySimApp(sim)
    async with app.run_test(size=(160, 50)) as pilot:
        deadline = time.monotonic() + 60
        while len(sim.board.cards) < lobbies_wanted and time.monotonic() < deadline:
            await pilot.pause(0.5)  # fill up
        refreshes, spent, started = app.refreshes, app.refresh_seconds, time.perf_counter()
        await pilot.pause(measure_seconds)
        elapsed = time.perf_counter() - started
        n = app.refreshes - refreshes
        lobbies, waiting = len(sim.board.cards), sim.board.waiting_users()
        drawn = app.query_one(LobbyGrid).capacity
    print(
        f"board: {lobbies} lobbies, {waiting} users waiting "
        f"({drawn} cards drawn at 160x50, the rest summarized)"
    )
    print(f"refreshes: {n} in {elapsed:.1f}s = {n / elapsed:.1f}/s (the timer asks for 10/s)")
    print(
        f"cost of one refresh: {(app.refresh_seconds - spent) / max(n, 1) * 1000:.2f} ms on average"
    )


if __name__ == "__main__":
    asyncio.run(main())
