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
service against it. Its models are in :mod:`lobbysim.serve.schema`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Annotated, Any

import redis
from fastapi import FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import WithJsonSchema
from starlette.exceptions import HTTPException

from lobbycore import (
    AlreadyBooked,
    AlreadyInLobby,
    AsyncStore,
    InvalidInput,
    KeysUnavailable,
    LobbyError,
    LobbyNotFound,
    NotConfirmed,
    PartySpansShards,
    ServerRefused,
    SoldOut,
    async_check_naive_supported,
    async_store_for,
)
from lobbycore.defaults import DEFAULT_WAIT_REPLICAS, DEFAULT_WAIT_TIMEOUT

from .schema import (
    IDEMPOTENCY_KEY_SCHEMA,
    AlreadyBookedOut,
    AlreadyInLobbyOut,
    BookingOut,
    HealthOut,
    InvalidInputOut,
    JoinRequest,
    LeaveOut,
    LeaveRequest,
    LobbyId,
    LobbyOut,
    NotConfirmedOut,
    NotFoundOut,
    PartyJoinRequest,
    PathUserId,
    SoldOutOut,
    StatsOut,
    UnavailableOut,
)

IDEMPOTENCY_HEADER = "Idempotency-Key"


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
        case NotConfirmed():  # written on the primary, too few replicas had it in time
            return _error(503, "not_confirmed", str(exc))
        case ServerRefused(retryable=True):  # a failover, a busy server: nothing written
            return _error(503, "redis_unavailable", str(exc))
        case _:
            return _error(500, "lobby_error", str(exc))


Responses = dict[int | str, dict[str, Any]]


def _responses(*more: tuple[int, Any]) -> Responses:
    """The error statuses an operation declares: 503 always, and those of ``more``."""
    responses: Responses = {503: {"model": UnavailableOut}}
    return responses | {status: {"model": model} for status, model in more}


INVALID = (422, InvalidInputOut)
NOT_FOUND = (404, NotFoundOut)
WRITES = (503, UnavailableOut | NotConfirmedOut)
"""A writing call's 503 may also be ``not_confirmed`` (``--wait-replicas``)."""


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

    @app.post("/lobbies/join", responses=_responses(INVALID, WRITES))
    async def join(body: JoinRequest) -> LobbyOut:
        """Find or create a lobby for one user (the article's ``findOrCreateLobby``)."""
        return LobbyOut.of(await store().find_or_create_lobby(body.userId, body.maxUsers))

    @app.post(
        "/lobbies/join-party", responses=_responses(INVALID, (409, AlreadyInLobbyOut), WRITES)
    )
    async def join_party(body: PartyJoinRequest) -> LobbyOut:
        """Place a party in one lobby, all or none."""
        return LobbyOut.of(await store().join_party(body.userIds, body.maxUsers))

    @app.post("/lobbies/leave", responses=_responses(INVALID, WRITES))
    async def leave(body: LeaveRequest) -> LeaveOut:
        """Leave the user's lobby, if any."""
        lobby = await store().leave_lobby(body.userId)
        return LeaveOut(lobby=None if lobby is None else LobbyOut.of(lobby))

    @app.post(
        "/lobbies/{lobby_id}/book",
        responses=_responses(INVALID, NOT_FOUND, (409, AlreadyBookedOut | SoldOutOut), WRITES),
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
    async_client: Any,
    strategy: str,
    pool: str,
    lobby_ttl: float | None,
    *,
    wait_replicas: int = DEFAULT_WAIT_REPLICAS,
    wait_timeout: float = DEFAULT_WAIT_TIMEOUT,
) -> Callable[[], Awaitable[AsyncStore]]:
    """Opens an async store of ``strategy`` on ``async_client`` (auto-pipelined); a writing
    call too few replicas confirmed is answered 503 ``not_confirmed``."""

    async def open_store() -> AsyncStore:
        store = async_store_for(
            async_client,
            strategy,
            pool=pool,
            lobby_ttl=lobby_ttl,
            wait_replicas=wait_replicas,
            wait_timeout=wait_timeout,
        )
        if strategy == "naive":
            await async_check_naive_supported(async_client)
        return store

    return open_store
