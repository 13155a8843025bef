"""A lobby card's face: only values read from the store, each line within the card."""

from __future__ import annotations

import pytest

from simulator.board import FILLING, LobbyCard
from simulator.dashboard.widgets import CARD_WIDTH, CardFace, age_text, render_face

NOW_MS = 1_800_000_000_000
CONTENT_WIDTH = CARD_WIDTH - 4  # border and padding


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (99, "99s"),
        (100, "1m"),
        (5999, "99m"),
        (6000, "1h"),
        (359_999, "99h"),
        (360_000, "4d"),
        (1_795_674_308, "20783d"),
    ],
)
def test_age_text_is_compact(seconds: int, text: str) -> None:
    assert age_text(seconds) == text


def test_a_half_written_lobby_shows_no_size_and_no_age() -> None:
    # What the naive store can leave: `users` written on a hash with no maxUsers/createdAt.
    card = LobbyCard("01ARZ3NDEKTSV4RRFFQ69G5FHW", max_users=0, users=("a", "b", "c", "d"))
    face = CardFace.of(card, NOW_MS)
    assert face.max_users is None and face.age_seconds is None
    lines = render_face(face, CONTENT_WIDTH).plain.splitlines()
    assert lines == ["9G5FHW", "4/?", FILLING]


def test_a_server_clock_ahead_of_ours_reads_as_age_zero() -> None:
    card = LobbyCard("01ARZ3NDEKTSV4RRFFQ69G5F00", 4, ("a",), created_at=NOW_MS + 1500)
    assert CardFace.of(card, NOW_MS).age_seconds == 0


@pytest.mark.parametrize("width", [CONTENT_WIDTH, CONTENT_WIDTH + 1, 17, 24, 40])
@pytest.mark.parametrize("max_users", [1, 4, 12, 1000])
def test_every_line_fits_and_the_id_is_whole(width: int, max_users: int) -> None:
    card = LobbyCard(
        "01ARZ3NDEKTSV4RRFFQ69G5F00",
        max_users,
        tuple(f"u{i}" for i in range(max_users)),
        created_at=NOW_MS - 86_400_000 * 5,
        violated=True,
    )
    text = render_face(CardFace.of(card, NOW_MS), width)
    top, middle, bottom = text.plain.splitlines()
    assert all(len(line) <= width for line in (top, middle, bottom))
    assert top.split() == ["9G5F00", "5d"]
    assert middle.endswith(f"{max_users}/{max_users}") and bottom == "VIOLATION"
