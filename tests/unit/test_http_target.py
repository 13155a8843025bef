"""The target description of locustfiles/http.py (pure parsing: no Locust is imported)."""

from __future__ import annotations

from pathlib import Path

import pytest

from locustfiles.http_target import DEFAULT_TARGET, TargetError, load_target, parse_target

ARTICLE = """
[lobby]
id = "id"
users = "users"

[join]
method = "POST"
path = "/lobby"
body = { userId = "{user}", maxUser = "{size}" }

[book]
path = "/lobby/{lobby}/booked"
users = ""
"""


def test_the_default_is_lobbysim_serves_api() -> None:
    target = load_target(None)
    assert target == parse_target(DEFAULT_TARGET)
    join = target.route("join")
    assert join is not None
    assert join.json(user="ann", size=4, users=["ann"], lobby="") == {
        "userId": "ann",
        "maxUsers": 4,
    }
    party = target.route("party_join")
    assert party is not None
    assert party.json(user="a", users=["a", "b"], size=4, lobby="")["userIds"] == ["a", "b"]
    book = target.route("book")
    assert book is not None and book.idempotency_header == "Idempotency-Key"
    assert book.url(lobby="L/1", user="u", size=2) == "/lobbies/L%2F1/book"
    assert target.lobby.read({"id": "L", "users": ["a"], "maxUsers": 2}) == ("L", ("a",), 2)
    assert target.lobby.read({"detail": "nope"}) is None
    assert target.lobby_ttl == 600


def test_a_minimal_description_of_the_articles_service(tmp_path: Path) -> None:
    path = tmp_path / "article.toml"
    path.write_text(ARTICLE)
    target = load_target(path)
    assert set(target.routes) == {"join", "book"}
    assert target.route("get_lobby") is None
    book = target.route("book")
    assert book is not None and book.method == "POST" and book.users is None
    assert target.lobby.read({"id": "L", "users": ["a"], "sessionId": "S"}) == ("L", ("a",), None)
    assert target.lobby_ttl is None


def test_nested_answers() -> None:
    target = parse_target(ARTICLE.replace('id = "id"', 'at = "data.lobby"\nid = "id"'))
    assert target.lobby.read({"data": {"lobby": {"id": 7, "users": [1]}}}) == ("7", ("1",), None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[book]\npath = '/x'", "[join] is required"),
        ("[join]\npath = 'x'", "path must start with '/'"),
        ("[join]\npath = '/x'\nmethod = 'FETCH'", "method must be one of"),
        ("[join]\npath = '/x'\n[joins]\n", "unknown table"),
        ("[join]\npath = '/x'\n[service]\nlobby_ttl = -1", "lobby_ttl must be a positive"),
        ("[join\n", "not valid TOML"),
    ],
)
def test_malformed_descriptions_say_why(text: str, message: str) -> None:
    with pytest.raises(TargetError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_target(text)


def test_a_missing_file_is_a_target_error(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="cannot read"):
        load_target(tmp_path / "nope.toml")
