"""The FastAPI application: one route per store operation, typed errors as HTTP statuses.

Statuses: 200 with the answer; 404 for an unknown lobby (or a user in none); 409 for a
refusal that changed nothing (``already_booked``, ``sold_out``, ``already_in_lobby``);
422 for malformed input, checked by pydantic and then by lobbycore before any command is
sent, so nothing is written for a bad request; 503 when Redis cannot be used. Every error
body is ``{"code": ..., "detail": ...}``: ``code`` is for programs, ``detail`` for people.

The OpenAPI document (``/openapi.json``) is the contract: it declares every input rule
lobbycore enforces (so a request valid by the document is never refused for its shape;
the one rule it cannot state is in words: a party has at most ``maxUsers`` users) and the
body of every answer, errors included. tests/functional/test_openapi_contract.py fuzzes the
service against it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Annotated, Any, Literal

import redis
from fastapi import FastAPI, Header, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    WithJsonSchema,
)
from starlette.exceptions import HTTPException

from lobbycore import (
    AlreadyBooked,
    AlreadyInLobby,
    AsyncStore,
    Booking,
    InvalidInput,
    KeysUnavailable,
    Lobby,
    LobbyError,
    LobbyNotFound,
    PartySpansShards,
    PoolStats,
    SoldOut,
    async_check_naive_supported,
    async_store_for,
    connect,
)
from lobbycore.defaults import (
    DEFAULT_LOBBY_TTL,
    DEFAULT_MAX_USERS,
    DEFAULT_POOL,
    MAX_ID_BYTES,
    MAX_USERS_LIMIT,
)
from lobbycore.validate import ULID_PATTERN

ENV_REDIS_URL = "LOBBYSIM_SERVE_REDIS_URL"
ENV_STRATEGY = "LOBBYSIM_SERVE_STRATEGY"
ENV_POOL = "LOBBYSIM_SERVE_POOL"
ENV_TTL = "LOBBYSIM_SERVE_LOBBY_TTL"
"""How ``lobbysim serve`` configures its uvicorn worker processes (see :func:`app_from_env`)."""

CONNECTIONS = 64
IDEMPOTENCY_HEADER = "Idempotency-Key"


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


class NotInLobby(Exception):
    """A user is in no lobby: 404 ``not_in_lobby``."""


def _error(status: int, code: str, detail: Any, **more: Any) -> JSONResponse:
    return JSONResponse({"code": code, "detail": detail, **more}, status_code=status)


def _lobby_error(exc: LobbyError) -> JSONResponse:
    """A lobbycore error as its HTTP answer."""
    match exc:
        case AlreadyBooked():
            booking = BookingOut.of(exc.booking).model_dump()
            return _error(409, "already_booked", str(exc), booking=booking)
        case SoldOut():
            return _error(409, "sold_out", str(exc), seatsLeft=exc.seats_left)
        case AlreadyInLobby():
            return _error(409, "already_in_lobby", str(exc), lobbyId=exc.lobby_id)
        case LobbyNotFound():
            return _error(404, "lobby_not_found", str(exc))
        case InvalidInput() | PartySpansShards():
            return _error(422, "invalid_input", str(exc))
        case KeysUnavailable():
            return _error(503, "keys_unavailable", str(exc))
        case _:
            return _error(500, "lobby_error", str(exc))


Responses = dict[int | str, dict[str, Any]]


def _responses(*more: tuple[int, Any]) -> Responses:
    """The error statuses an operation declares: 503 always, and those of ``more``."""
    responses: Responses = {503: {"model": UnavailableOut}}
    return responses | {status: {"model": model} for status, model in more}


INVALID = (422, InvalidInputOut)
NOT_FOUND = (404, NotFoundOut)


def create_app(
    open_store: Callable[[], Awaitable[AsyncStore]], *, title: str = "lobbysim"
) -> FastAPI:
    """The application; ``open_store`` is awaited once at start-up, its client closed at exit."""
    state: dict[str, AsyncStore] = {}

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        store = await open_store()
        state["store"] = store
        try:
            yield
        finally:
            await store.client.aclose()

    def store() -> AsyncStore:
        return state["store"]

    app = FastAPI(
        title=title,
        summary="Lobbies of buyers for a ticketing checkout, over Redis (lobbycore).",
        lifespan=lifespan,
    )

    @app.exception_handler(LobbyError)
    async def on_lobby_error(_request: Request, exc: LobbyError) -> JSONResponse:
        return _lobby_error(exc)

    @app.exception_handler(NotInLobby)
    async def on_not_in_lobby(_request: Request, exc: NotInLobby) -> JSONResponse:
        return _error(404, "not_in_lobby", str(exc))

    @app.exception_handler(RequestValidationError)
    async def on_invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
        return _error(422, "invalid_input", detail)

    @app.exception_handler(HTTPException)
    async def on_http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        # No such route or method: the same body as every other error (code "not_found", ...).
        code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_")
        return _error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(redis.RedisError)
    async def on_redis_error(_request: Request, exc: redis.RedisError) -> JSONResponse:
        # The outcome of the call is unknown to us too: say so, never with the URL.
        return _error(503, "redis_unavailable", type(exc).__name__)

    @app.post("/lobbies/join", responses=_responses(INVALID))
    async def join(body: JoinRequest) -> LobbyOut:
        """Find or create a lobby for one user (the article's ``findOrCreateLobby``)."""
        return LobbyOut.of(await store().find_or_create_lobby(body.userId, body.maxUsers))

    @app.post("/lobbies/join-party", responses=_responses(INVALID, (409, AlreadyInLobbyOut)))
    async def join_party(body: PartyJoinRequest) -> LobbyOut:
        """Place a party in one lobby, all or none."""
        return LobbyOut.of(await store().join_party(body.userIds, body.maxUsers))

    @app.post("/lobbies/leave", responses=_responses(INVALID))
    async def leave(body: LeaveRequest) -> LeaveOut:
        """Leave the user's lobby, if any."""
        lobby = await store().leave_lobby(body.userId)
        return LeaveOut(lobby=None if lobby is None else LobbyOut.of(lobby))

    @app.post(
        "/lobbies/{lobby_id}/book",
        responses=_responses(INVALID, NOT_FOUND, (409, AlreadyBookedOut | SoldOutOut)),
    )
    async def book(
        lobby_id: LobbyId,
        idempotency_key: Annotated[
            str | None,
            Header(alias=IDEMPOTENCY_HEADER),
            WithJsonSchema(IDEMPOTENCY_KEY_SCHEMA),
        ] = None,
    ) -> BookingOut:
        """Book a lobby's users (the article's ``bookedTicket``); a retry with the same
        ``Idempotency-Key`` is answered the same booking."""
        return BookingOut.of(await store().book_ticket(lobby_id, idempotency_key))

    @app.get("/lobbies/{lobby_id}", responses=_responses(INVALID, NOT_FOUND))
    async def get_lobby(lobby_id: LobbyId) -> LobbyOut:
        lobby = await store().get_lobby(lobby_id)
        if lobby is None:
            raise LobbyNotFound(lobby_id)
        return LobbyOut.of(lobby)

    # ":path": a user id may hold "/" (sent as %2F, which the server decodes before routing).
    @app.get("/users/{user_id:path}/lobby", responses=_responses(INVALID, NOT_FOUND))
    async def lobby_of(user_id: PathUserId) -> LobbyOut:
        lobby = await store().lobby_of(user_id)
        if lobby is None:
            raise NotInLobby(f"user {user_id!r} is in no lobby")
        return LobbyOut.of(lobby)

    @app.get("/stats", responses=_responses())
    async def stats() -> StatsOut:
        return StatsOut.of(await store().stats())

    @app.get("/health", responses=_responses())
    async def health() -> HealthOut:
        await store().client.ping()
        return HealthOut(status="ok", pool=store().pool)

    return app


def store_opener(
    url: str, strategy: str, pool: str, lobby_ttl: float | None
) -> Callable[[], Awaitable[AsyncStore]]:
    """Opens an async store of ``strategy`` on the Redis at ``url`` (auto-pipelined)."""

    async def open_store() -> AsyncStore:
        probe = connect(url)  # asks the server whether it is a cluster node
        cluster = not isinstance(probe, redis.Redis)
        probe.close()
        # A blocking pool (single node) makes calls beyond CONNECTIONS wait, not fail.
        client = connect(
            url,
            asyncio=True,
            cluster=cluster,
            blocking_pool=not cluster,
            max_connections=CONNECTIONS,
        )
        store = async_store_for(client, strategy, pool=pool, lobby_ttl=lobby_ttl)
        if strategy == "naive":
            await async_check_naive_supported(client)
        return store

    return open_store


def app_from_env() -> FastAPI:
    """The application as each uvicorn worker process builds it (``--workers N``)."""
    ttl = os.environ.get(ENV_TTL, str(DEFAULT_LOBBY_TTL))
    return create_app(
        store_opener(
            os.environ[ENV_REDIS_URL],
            os.environ.get(ENV_STRATEGY, "atomic"),
            os.environ.get(ENV_POOL, DEFAULT_POOL),
            None if ttl == "none" else float(ttl),
        )
    )
