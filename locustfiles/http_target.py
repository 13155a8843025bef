"""The target description: a lobby service's HTTP API, as ``locustfiles/http.py`` calls it.

A small TOML file names each route (method, path, JSON body) and where the answers put a
lobby's id, users and size. Only ``join`` is required; the scenario skips what a service
does not offer. :data:`DEFAULT_TARGET` describes ``lobbysim serve``; write your own for
your service (docs/http.md, "Against your service: a target file"). No Locust import here.

Templates: in a path, ``{user}``, ``{lobby}`` and ``{size}`` are replaced (URL-quoted); in
a body, a string that is exactly ``"{size}"`` becomes the number, ``"{users}"`` the list
of a party's user ids, and other strings have ``{user}``, ``{lobby}``, ``{size}`` replaced.
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from lobbysim.checks.calls import interned

DEFAULT_TARGET = """\
# lobbysim serve's API (docs at /docs on a running server).
[service]
lobby_ttl = 600          # seconds after which the service may expire an unbooked lobby

[lobby]                  # how join and read answers show a lobby
at = ""                  # dotted path to the lobby in the answer ("" = the answer itself)
id = "id"
users = "users"
size = "maxUsers"        # optional: without it, the size the join asked for is used

[errors]
code = "code"            # the field of an error answer naming the refusal
already_booked = "already_booked"

[join]
method = "POST"
path = "/lobbies/join"
body = { userId = "{user}", maxUsers = "{size}" }

[party_join]
method = "POST"
path = "/lobbies/join-party"
body = { userIds = "{users}", maxUsers = "{size}" }

[leave]
method = "POST"
path = "/lobbies/leave"
body = { userId = "{user}" }

[book]
method = "POST"
path = "/lobbies/{lobby}/book"
idempotency_header = "Idempotency-Key"
users = "users"          # where the booking answer lists the booked users ("": it does not)

[get_lobby]
method = "GET"
path = "/lobbies/{lobby}"

[lobby_of]
method = "GET"
path = "/users/{user}/lobby"
"""

ROUTES = ("join", "party_join", "leave", "book", "get_lobby", "lobby_of")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


class TargetError(ValueError):
    """The target description is malformed (one line, for the command line)."""


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    body: Any = None
    idempotency_header: str | None = None
    users: str | None = None
    """book: the dotted path of the booked users in its answer (None: not given)."""

    def url(self, **values: object) -> str:
        return self.path.format_map({k: quote(str(v), safe="") for k, v in values.items()})

    def json(self, **values: object) -> Any:
        return None if self.body is None else _fill(self.body, values)


@dataclass(frozen=True, slots=True)
class LobbyAnswer:
    """Where an answer shows a lobby (dotted paths)."""

    at: str = ""
    id: str = "id"
    users: str = "users"
    size: str | None = None

    def read(self, answer: Any) -> tuple[str, tuple[str, ...], int | None] | None:
        """(id, users, size) of the lobby in ``answer``; None if it shows none."""
        lobby = dig(answer, self.at)
        lobby_id, users = dig(lobby, self.id), dig(lobby, self.users)
        if not isinstance(lobby_id, str | int) or not isinstance(users, list):
            return None
        size = dig(lobby, self.size) if self.size else None
        ids = interned(str(u) for u in users)
        return sys.intern(str(lobby_id)), ids, size if isinstance(size, int) else None


@dataclass(frozen=True, slots=True)
class Target:
    routes: dict[str, Route]
    lobby: LobbyAnswer
    code_field: str = "code"
    already_booked: str = "already_booked"
    lobby_ttl: float | None = None

    def route(self, name: str) -> Route | None:
        return self.routes.get(name)


def dig(value: Any, path: str | None) -> Any:
    """``value["a"]["b"]`` for path ``"a.b"``; the value itself for ``""``; None if absent."""
    if not path:
        return value
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _fill(template: Any, values: Mapping[str, object]) -> Any:
    if isinstance(template, str):
        if template in ("{size}", "{users}"):
            return values.get(template[1:-1])
        return template.format_map({k: v for k, v in values.items() if k != "users"})
    if isinstance(template, dict):
        return {key: _fill(value, values) for key, value in template.items()}
    if isinstance(template, list):
        return [_fill(value, values) for value in template]
    return template


def _table(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, Mapping):
        raise TargetError(f"[{name}] must be a table")
    return value


def _text(table: Mapping[str, Any], key: str, where: str, default: str | None = None) -> Any:
    value = table.get(key, default)
    if value is not None and not isinstance(value, str):
        raise TargetError(f"[{where}] {key} must be a string, got {value!r}")
    return value


def parse_target(text: str) -> Target:
    """A target description from TOML text; TargetError if it is malformed."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TargetError(f"not valid TOML: {exc}") from None
    unknown = set(data) - {*ROUTES, "lobby", "errors", "service"}
    if unknown:
        raise TargetError(f"unknown table(s) {sorted(unknown)}; expected {', '.join(ROUTES)}")
    routes: dict[str, Route] = {}
    for name in ROUTES:
        if name not in data:
            continue
        table = _table(data, name)
        method = str(_text(table, "method", name, "POST")).upper()
        path = _text(table, "path", name)
        if method not in METHODS:
            raise TargetError(f"[{name}] method must be one of {', '.join(METHODS)}")
        if not path or not path.startswith("/"):
            raise TargetError(f"[{name}] path must start with '/'")
        routes[name] = Route(
            method,
            path,
            table.get("body"),
            _text(table, "idempotency_header", name),
            _text(table, "users", name) or None,
        )
    if "join" not in routes:
        raise TargetError("[join] is required: the route that puts a user in a lobby")
    lobby = _table(data, "lobby")
    errors = _table(data, "errors")
    ttl = _table(data, "service").get("lobby_ttl")
    if ttl is not None and (not isinstance(ttl, int | float) or ttl <= 0):
        raise TargetError(f"[service] lobby_ttl must be a positive number, got {ttl!r}")
    return Target(
        routes,
        LobbyAnswer(
            _text(lobby, "at", "lobby", ""),
            _text(lobby, "id", "lobby", "id"),
            _text(lobby, "users", "lobby", "users"),
            _text(lobby, "size", "lobby") or None,
        ),
        _text(errors, "code", "errors", "code"),
        _text(errors, "already_booked", "errors", "already_booked"),
        None if ttl is None else float(ttl),
    )


def load_target(path: str | Path | None) -> Target:
    """The description in ``path``, or :data:`DEFAULT_TARGET` (lobbysim serve) if None/empty."""
    if not path:
        return parse_target(DEFAULT_TARGET)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise TargetError(f"cannot read {str(path)!r}: {exc.strerror}") from None
    return parse_target(text)
