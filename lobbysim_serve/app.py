"""The FastAPI application: one route per store operation, typed errors as HTTP statuses.

Statuses: 200 with the answer; 404 for an unknown lobby (or a user in none); 409 for a
refusal that changed nothing (``already_booked``, ``sold_out``, ``already_in_lobby``);
422 for malformed input, checked by pydantic and then by lobbycore before any command is
sent, so nothing is written for a bad request; 503 when Redis cannot be used. Every error
body is ``{"code": ..., "detail": ...}``: ``code`` is for programs, ``detail`` for people.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import redis
from fastapi import FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

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
from lobbycore.defaults import DEFAULT_LOBBY_TTL, DEFAULT_MAX_USERS, DEFAULT_POOL

ENV_REDIS_URL = "LOBBYSIM_SERVE_REDIS_URL"
ENV_STRATEGY = "LOBBYSIM_SERVE_STRATEGY"
ENV_POOL = "LOBBYSIM_SERVE_POOL"
ENV_TTL = "LOBBYSIM_SERVE_LOBBY_TTL"
"""How ``lobbysim serve`` configures its uvicorn worker processes (see :func:`app_from_env`)."""

CONNECTIONS = 64
IDEMPOTENCY_HEADER = "Idempotency-Key"


# -- the wire format (the article's field names) ------------------------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JoinRequest(_Strict):
    userId: StrictStr
    maxUsers: StrictInt = DEFAULT_MAX_USERS


class PartyJoinRequest(_Strict):
    userIds: list[StrictStr] = Field(min_length=1)
    maxUsers: StrictInt = DEFAULT_MAX_USERS


class LeaveRequest(_Strict):
    userId: StrictStr


class LobbyOut(BaseModel):
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


class LeaveOut(BaseModel):
    lobby: LobbyOut | None
    """The lobby as the leave left it; None if the user was in none, or it is now empty."""


class BookingOut(BaseModel):
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


class StatsOut(BaseModel):
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


class ErrorOut(BaseModel):
    code: str
    detail: Any


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


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut} for status in (404, 409, 422, 503)
}


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

    @app.exception_handler(redis.RedisError)
    async def on_redis_error(_request: Request, exc: redis.RedisError) -> JSONResponse:
        # The outcome of the call is unknown to us too: say so, never with the URL.
        return _error(503, "redis_unavailable", type(exc).__name__)

    @app.post("/lobbies/join", responses=ERRORS)
    async def join(body: JoinRequest) -> LobbyOut:
        """Find or create a lobby for one user (the article's ``findOrCreateLobby``)."""
        return LobbyOut.of(await store().find_or_create_lobby(body.userId, body.maxUsers))

    @app.post("/lobbies/join-party", responses=ERRORS)
    async def join_party(body: PartyJoinRequest) -> LobbyOut:
        """Place a party in one lobby, all or none."""
        return LobbyOut.of(await store().join_party(body.userIds, body.maxUsers))

    @app.post("/lobbies/leave", responses=ERRORS)
    async def leave(body: LeaveRequest) -> LeaveOut:
        """Leave the user's lobby, if any."""
        lobby = await store().leave_lobby(body.userId)
        return LeaveOut(lobby=None if lobby is None else LobbyOut.of(lobby))

    @app.post("/lobbies/{lobby_id}/book", responses=ERRORS)
    async def book(
        lobby_id: str,
        idempotency_key: Annotated[str | None, Header(alias=IDEMPOTENCY_HEADER)] = None,
    ) -> BookingOut:
        """Book a lobby's users (the article's ``bookedTicket``); a retry with the same
        ``Idempotency-Key`` is answered the same booking."""
        return BookingOut.of(await store().book_ticket(lobby_id, idempotency_key))

    @app.get("/lobbies/{lobby_id}", responses=ERRORS)
    async def get_lobby(lobby_id: str) -> LobbyOut:
        lobby = await store().get_lobby(lobby_id)
        if lobby is None:
            raise LobbyNotFound(lobby_id)
        return LobbyOut.of(lobby)

    @app.get("/users/{user_id}/lobby", responses=ERRORS)
    async def lobby_of(user_id: str) -> LobbyOut:
        lobby = await store().lobby_of(user_id)
        if lobby is None:
            raise NotInLobby(f"user {user_id!r} is in no lobby")
        return LobbyOut.of(lobby)

    @app.get("/stats")
    async def stats() -> StatsOut:
        return StatsOut.of(await store().stats())

    @app.get("/health", responses=ERRORS)
    async def health() -> dict[str, str]:
        await store().client.ping()
        return {"status": "ok", "pool": store().pool}

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
