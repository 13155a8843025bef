"""The wire format of ``lobbysim serve``: its requests, answers and error bodies as pydantic
models, which FastAPI renders as the OpenAPI document (the service's contract).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    WithJsonSchema,
)

from lobbycore import Booking, Lobby, PoolStats
from lobbycore.defaults import DEFAULT_MAX_USERS, MAX_ID_BYTES, MAX_USERS_LIMIT
from lobbycore.validate import ULID_PATTERN

# -- what the engine accepts, as the OpenAPI document declares it ------------------------------
# The document declares every rule lobbycore enforces, so that a client generated from it
# sends nothing that is refused for its shape. Rules JSON Schema states exactly (integer
# ranges, item counts, the lobby id's pattern) are also checked here by pydantic; a user id's
# limit is in UTF-8 bytes, which JSON Schema cannot count (maxLength counts characters), so
# the document declares the ids that fit whatever their characters (below) and lobbycore
# checks the bytes: every id the document allows is accepted, and a longer one that still
# fits in MAX_ID_BYTES is accepted too.

# lobbycore's own pattern, so that the two cannot differ; anchored, as JSON Schema's are not.
LOBBY_ID_PATTERN = rf"^{ULID_PATTERN}$"

# Characters by the most UTF-8 bytes they take: 1 (ASCII), 2, 3 (the BMP without surrogates),
# 4 (any); NUL is refused by lobbycore and lone surrogates are not text.
_UTF8_CLASSES = (
    (1, r"\x01-\x7F"),
    (2, r"\x01-\u07FF"),
    (3, r"\x01-\uD7FF\uE000-\uFFFF"),
    (4, r"^\x00"),
)


def _opaque_id_schema(what: str, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """1..MAX_ID_BYTES UTF-8 bytes without NUL, as JSON Schema can say it: any of "at most
    MAX_ID_BYTES // n characters, each of at most n bytes"."""
    schema: dict[str, Any] = {
        "type": "string",
        "description": f"{what}: 1..{MAX_ID_BYTES} UTF-8 bytes without NUL (declared here "
        "as the lengths that fit whatever the characters; a JSON Schema length counts "
        "characters, not bytes)",
        "anyOf": [
            {"minLength": 1, "maxLength": MAX_ID_BYTES // size, "pattern": f"^[{chars}]*$"}
            for size, chars in _UTF8_CLASSES
        ],
    }
    if exclude:
        schema["not"] = {"enum": list(exclude)}
    return schema


UserId = Annotated[StrictStr, WithJsonSchema(_opaque_id_schema("A user id"))]
# In a URL path "." and ".." are dot segments, removed before the request is sent (RFC 3986).
PathUserId = Annotated[str, WithJsonSchema(_opaque_id_schema("A user id", (".", "..")))]
LobbyId = Annotated[
    str, Path(pattern=LOBBY_ID_PATTERN, description="A lobby id (a ULID, as lobbycore makes)")
]


def _integral(value: object) -> object:
    # JSON has one kind of number: 2.0 is the integer 2, to JSON Schema's "integer" too.
    return int(value) if isinstance(value, float) and value.is_integer() else value


MaxUsers = Annotated[
    StrictInt,
    Field(ge=1, le=MAX_USERS_LIMIT, description="The lobby's size if one is created"),
    BeforeValidator(_integral),  # after the bounds, or pydantic cannot put them in the schema
]
# A header value arrives without its leading and trailing blanks, and is ASCII by RFC 9110.
IDEMPOTENCY_KEY_SCHEMA = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_ID_BYTES,
    "pattern": r"^[\x21-\x7E]([\x20-\x7E]*[\x21-\x7E])?$",
    "description": "Books at most once: a retry with the same key is answered the same "
    f"booking. Visible ASCII, inner spaces allowed, 1..{MAX_ID_BYTES} characters.",
}


# -- the wire format (the article's field names) ------------------------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JoinRequest(_Strict):
    userId: UserId
    maxUsers: MaxUsers = DEFAULT_MAX_USERS


class PartyJoinRequest(_Strict):
    """A party of distinct users, at most ``maxUsers`` of them (a rule between two fields,
    which JSON Schema cannot state: a larger party is refused with 422 ``invalid_input``)."""

    userIds: list[UserId] = Field(
        min_length=1,
        max_length=MAX_USERS_LIMIT,
        json_schema_extra={"uniqueItems": True},
        description="Distinct user ids, at most maxUsers of them",
    )
    maxUsers: MaxUsers = DEFAULT_MAX_USERS


class LeaveRequest(_Strict):
    userId: UserId


class _Out(BaseModel):
    # additionalProperties: false in the document, so a client can rely on the fields listed.
    model_config = ConfigDict(extra="forbid")


class LobbyOut(_Out):
    """The article's ``Lobby`` (``createdAt`` a string of ms, as ``Date.now().toString()``),
    plus the size it was created with."""

    id: str
    sessionId: str
    users: list[str]
    createdAt: str
    maxUsers: int

    @classmethod
    def of(cls, lobby: Lobby) -> LobbyOut:
        return cls(
            id=lobby.id,
            sessionId=lobby.session_id,
            users=list(lobby.users),
            createdAt=str(lobby.created_at),
            maxUsers=lobby.max_users,
        )


class LeaveOut(_Out):
    lobby: LobbyOut | None
    """The lobby as the leave left it; None if the user was in none, or it is now empty."""


class BookingOut(_Out):
    lobbyId: str
    sessionId: str
    users: list[str]
    bookedAt: str
    requestId: str

    @classmethod
    def of(cls, booking: Booking) -> BookingOut:
        return cls(
            lobbyId=booking.lobby_id,
            sessionId=booking.session_id,
            users=list(booking.users),
            bookedAt=str(booking.booked_at),
            requestId=booking.request_id,
        )


class StatsOut(_Out):
    openLobbies: int
    fullLobbies: int
    waitingUsers: int
    bookings: int
    seatsLeft: int | None

    @classmethod
    def of(cls, stats: PoolStats) -> StatsOut:
        return cls(
            openLobbies=stats.open_lobbies,
            fullLobbies=stats.full_lobbies,
            waitingUsers=stats.waiting_users,
            bookings=stats.bookings,
            seatsLeft=stats.seats_left,
        )


class HealthOut(_Out):
    status: Literal["ok"]
    pool: str


class ErrorOut(_Out):
    """Every error body: ``code`` for programs, ``detail`` for people."""

    code: str
    detail: str


class FieldError(_Out):
    loc: list[str | int]
    msg: str


class InvalidInputOut(_Out):
    """Input refused before anything is sent to Redis: by field (pydantic's checks) or as
    lobbycore's one-line message."""

    code: Literal["invalid_input"]
    detail: str | list[FieldError]


class NotFoundOut(ErrorOut):
    code: Literal["lobby_not_found", "not_in_lobby", "not_found"]


class AlreadyBookedOut(ErrorOut):
    code: Literal["already_booked"]
    booking: BookingOut
    """The booking made earlier (by another request id)."""


class SoldOutOut(ErrorOut):
    code: Literal["sold_out"]
    seatsLeft: int


class AlreadyInLobbyOut(ErrorOut):
    code: Literal["already_in_lobby"]
    lobbyId: str
    """The lobby a user of the party is already in."""


class UnavailableOut(ErrorOut):
    """Redis could not be used; the call's outcome is unknown (503)."""

    code: Literal["keys_unavailable", "redis_unavailable"]


class NotConfirmedOut(ErrorOut):
    """A writing call ran on the primary, but too few replicas acknowledged it in time (the
    service's ``--wait-replicas``): it may or may not survive a failover. Safe to retry as
    it was (503)."""

    code: Literal["not_confirmed"]
