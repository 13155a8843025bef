"""A frame draws what changed in it: the card of a lobby that changed, not the grid; the
log's last lines, not every line of a busy frame."""

from __future__ import annotations

from typing import Any

from lobbycore import Lobby
from simulator.board import FILLING
from simulator.dashboard.widgets import EventLog, LobbyGrid
from simulator.dashboard.widgets._event_log import LINES_PER_FRAME
from simulator.dashboard.widgets._lobby_card import CARD_HEIGHT

from .test_app import NOW, SIZES, frozen_app, log


async def drawn_by(app: Any, pilot: Any, change: Any) -> tuple[int, int]:
    """Cards and lines the grid draws for the frame after ``change`` (frozen clock)."""
    grid = app.query_one(LobbyGrid)
    cards, lines = grid.cards_drawn, grid.lines_drawn
    change()
    app.refresh_view()
    await pilot.pause(0.2)
    return grid.cards_drawn - cards, grid.lines_drawn - lines


async def test_a_frame_redraws_only_the_card_that_changed() -> None:
    app = frozen_app("atomic")
    async with app.run_test(size=SIZES["160x48"]) as pilot:
        await pilot.pause(0.2)
        board, grid = app.source.board, app.query_one(LobbyGrid)
        assert await drawn_by(app, pilot, lambda: None) == (0, 0)  # nothing changed
        filling = min(
            (c for c in board.ordered() if c.state == FILLING), key=lambda c: len(c.users)
        )
        slot = next(i for i, f in enumerate(grid.faces) if f and f.short_id == filling.short_id)
        before = list(grid.faces)
        joined = Lobby(filling.id, "s", (*filling.users, "newcomer"), 4, filling.created_at)
        # One card drawn again; one line of it repainted: its bar and users (1/4 to 2/4).
        assert await drawn_by(app, pilot, lambda: board.upsert(joined)) == (1, 1)
        assert [i for i, f in enumerate(grid.faces) if f != before[i]] == [slot]


async def test_a_new_lobby_first_in_the_board_moves_no_card() -> None:
    app = frozen_app("atomic")
    async with app.run_test(size=SIZES["160x48"]) as pilot:
        await pilot.pause(0.2)
        board, grid = app.source.board, app.query_one(LobbyGrid)
        before = list(grid.faces)
        newest = Lobby("01ARZ3NDEKTSV4RRFFQ69GNEW0", "s", ("n1",), 4, int(NOW * 1000))
        assert await drawn_by(app, pilot, lambda: board.upsert(newest)) == (1, CARD_HEIGHT)
        assert board.ordered()[0].id == newest.id  # drawn first by the board's order...
        moved = [i for i, face in enumerate(grid.faces) if face != before[i]]
        assert moved == [len([f for f in before if f])]  # ...but in the first free slot


async def test_a_frame_logs_its_last_lines_and_every_violation() -> None:
    app = frozen_app("atomic")
    async with app.run_test(size=SIZES["80x24"]) as pilot:
        await pilot.pause(0.2)
        events = app.query_one(EventLog)
        before = len(events.lines)
        lines = [f"u{i} joined" for i in range(200)]
        lines[5] = "12:00:00 VIOLATION u5 in 2"
        log(app.source, *lines)
        app.refresh_view()
        await pilot.pause(0.2)
        written = [strip.text.rstrip() for strip in events.lines[before:]]
        last = lines[-LINES_PER_FRAME:]
        assert written == [f"… {200 - LINES_PER_FRAME - 1} more lines", lines[5], *last]
