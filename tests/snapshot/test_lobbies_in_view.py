"""What the dashboard is for, at every supported size: whenever a lobby is filling (or full),
one is drawn; the line about the lobbies not drawn stays one line; a red card names the
guarantee its lobby broke.

The live tests run ``lobbysim demo``'s own settings (its parser's defaults) on an embedded
Redis, as ``make demo`` does.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from lobbycore.violations import Violation
from lobbysim.cli import build_parser
from lobbysim.cli._redis import open_embedded
from lobbysim.cli.demo import sim_config
from simulator import Simulation
from simulator.board import BOOKED, FILLING, FULL, LobbyCard
from simulator.dashboard import LobbySimApp
from simulator.dashboard.widgets import (
    CARD_WIDTH,
    VIOLATION_LABELS,
    CardFace,
    LobbyGrid,
    render_face,
)
from simulator.dashboard.widgets._lobby_grid import summary_text

from .test_app import SIZES, frozen_app

SAMPLES = 24
SAMPLE_EVERY = 0.25
SHOWN_SHARE = 0.9
"""Of the samples in which a lobby is filling or full, the share that must draw one."""
NEWCOMER_SECONDS = 5.0
"""`make demo` at 80x24: a lobby filling is on screen within this long."""


def demo_app(*flags: str) -> tuple[LobbySimApp, Simulation]:
    """The app `lobbysim demo FLAGS` runs without --redis-url: its settings, embedded Redis."""
    config = sim_config(build_parser().parse_args(["demo", *flags]), "demo")
    sim = Simulation(open_embedded(), config)
    return LobbySimApp(sim), sim


def filling_drawn(app: LobbySimApp) -> tuple[bool, bool]:
    """Draw the board as it is now (the app's own tick does so 5 times a second), then
    say whether a lobby is filling or full, and whether a card of one is drawn in the grid."""
    app.refresh_view()
    exists = any(card.state in (FILLING, FULL) for card in app.source.board.cards.values())
    grid = app.query_one(LobbyGrid)
    drawn = [face for face in grid.faces if face is not None]
    assert len(drawn) <= grid.capacity
    return exists, any(face.state in (FILLING, FULL) for face in drawn)


async def sample(app: LobbySimApp, pilot: Any) -> tuple[int, int]:
    """(samples in which a lobby was filling or full, samples that drew one)."""
    exist = shown = 0
    for _ in range(SAMPLES):
        await pilot.pause(SAMPLE_EVERY)
        exists, drawn = filling_drawn(app)
        exist += exists
        shown += exists and drawn
    return exist, shown


@pytest.mark.parametrize("size", SIZES)
async def test_a_filling_or_full_lobby_is_drawn_whenever_there_is_one(size: str) -> None:
    app, sim = demo_app("--seed", "7")
    async with app.run_test(size=SIZES[size]) as pilot:
        await pilot.pause(1.0)  # booked lobbies pile up: every state is on the board
        exist, shown = await sample(app, pilot)
        assert sim.metrics.bookings.total > 0
    assert exist >= SAMPLES // 2, "lobbies should be filling for most of the run"
    assert shown >= SHOWN_SHARE * exist, f"{shown}/{exist} samples drew a lobby filling"


async def test_a_newcomer_sees_lobbies_fill_at_80x24() -> None:
    app, sim = demo_app()  # `make demo`: no flag at all
    async with app.run_test(size=SIZES["80x24"]) as pilot:
        deadline = time.monotonic() + NEWCOMER_SECONDS
        while not filling_drawn(app)[1]:
            assert time.monotonic() < deadline, f"no lobby drawn filling in {NEWCOMER_SECONDS:g} s"
            await pilot.pause(0.1)
        # ...and it goes on: once booked lobbies crowd the grid, a filling one is still drawn.
        exist, shown = await sample(app, pilot)
        assert sim.metrics.bookings.total > 0
    assert exist >= SAMPLES // 2 and shown >= SHOWN_SHARE * exist, f"{shown}/{exist}"


# -- the summary line ------------------------------------------------------------------------
def card(i: int, state: str) -> LobbyCard:
    return LobbyCard(f"01ARZ3NDEKTSV4RRFFQ69G{i:04d}", 4, ("a",), created_at=1, state=state)


@pytest.mark.parametrize("size", ["80x24", "100x30"])  # 160x48 draws every frozen lobby
async def test_the_summary_line_is_one_line(size: str) -> None:
    app = frozen_app("naive")
    async with app.run_test(size=SIZES[size]) as pilot:
        await pilot.pause(0.2)
        grid = app.query_one(LobbyGrid)
        text = grid.summary
        assert text.startswith("+ ") and "more" in text
        assert grid.summary_y < grid.content_size.height  # on screen, under the cards
        assert len(text) <= grid.content_size.width  # one line, whole, not cut by an ellipsis


def test_the_summary_line_shortens_its_wording_to_fit() -> None:
    states = [FILLING] * 12 + [FULL] * 3 + [BOOKED] * 1234
    hidden = [card(i, state) for i, state in enumerate(states)]
    assert summary_text(hidden, 80) == "+ 1,249 more lobbies: 12 filling, 3 full, 1,234 booked"
    assert summary_text(hidden, 42) == "+ 1,249 more: 12 filling, 3 full, …"
    assert summary_text(hidden, 30) == "+ 1,249 more: 12 filling, …"
    assert summary_text(hidden, 20) == "+ 1,249 more lobbies"
    assert summary_text(hidden, 10) == "+ 1,249 more"
    assert summary_text([], 80) == ""


# -- red cards name what broke ---------------------------------------------------------------
CONTENT_WIDTH = CARD_WIDTH - 4


def red_face(*broke: Violation, users: int = 2, max_users: int = 4) -> CardFace:
    return CardFace("9G5F00", users, max_users, 3, "violated", broke)


def state_line(face: CardFace, width: int = CONTENT_WIDTH) -> str:
    return render_face(face, width).plain.splitlines()[-1]


def test_every_violation_has_a_card_label_that_fits_the_narrowest_card() -> None:
    assert set(VIOLATION_LABELS) == set(Violation)
    assert len(set(VIOLATION_LABELS.values())) == len(Violation)
    for violation, label in VIOLATION_LABELS.items():
        assert 0 < len(label) <= CONTENT_WIDTH, violation
        assert state_line(red_face(violation)).startswith(label)


def test_a_red_card_names_the_guarantee_it_broke() -> None:
    assert state_line(red_face(Violation.USER_IN_TWO_LOBBIES)) == "2 LOBBIES"
    assert state_line(red_face(Violation.LOST_JOIN)) == "LOST JOIN"
    assert state_line(red_face(Violation.OVER_CAPACITY, users=5)) == "OVER 5/4"
    # a count too wide for the card: the label alone
    assert state_line(red_face(Violation.OVER_CAPACITY, users=1001, max_users=1000)) == "OVER"
    both = red_face(Violation.USER_IN_TWO_LOBBIES, Violation.LOST_JOIN)
    assert state_line(both) == "2 LOBBIES +1"


async def test_the_naive_screen_names_what_each_red_card_broke() -> None:
    # frozen_app's half-written lobby holds users told other lobbies: two lobbies at once.
    app = frozen_app("naive")
    async with app.run_test(size=SIZES["160x48"]) as pilot:
        await pilot.pause(0.2)
        red = [face for face in app.query_one(LobbyGrid).faces if face is not None]
        red = [face for face in red if face.state == "violated"]
        assert red and all(face.broke for face in red)
        lines = {state_line(face) for face in red}
        assert lines <= {VIOLATION_LABELS[v] for v in Violation} | {
            f"{VIOLATION_LABELS[v]} +{n}" for v in Violation for n in range(1, len(Violation))
        }
        assert "VIOLATION" not in lines
        assert any(line.startswith("2 LOBBIES") for line in lines)


def test_a_card_told_only_that_its_lobby_broke_a_guarantee_says_violation() -> None:
    assert state_line(red_face()) == "VIOLATION"
