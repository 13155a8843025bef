"""`lobbysim serve` against its own OpenAPI document, fuzzed by Schemathesis.

The service runs as users run it (``lobbysim serve`` in its own process, on 127.0.0.1, over
the test's private redis-server); Schemathesis reads ``/openapi.json`` from it and generates
requests that the document says are valid. Bounded: a fixed number of examples per
operation, derandomized (the same requests on every run), no rate or duration asserted.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from lobbycore.defaults import DEFAULT_MAX_USERS
from lobbysim.testing import RedisServer
from tests.functional.test_serve import http, serve

EXAMPLES = 60
"""Per operation (one without input is asked once): about 400 requests in all, well under a
minute on a busy 2-core machine."""
SEEDS = 6
"""Lobbies made before fuzzing, so that the lobby and user routes also see known ids."""
ACCEPTED = {200, 404, 409}
"""What a schema-valid request may get: an answer, or a refusal about the pool's state
(unknown lobby or user; already booked, sold out, already in a lobby). Never 422 (the
request's shape), never 5xx."""
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def service(redis_server: RedisServer) -> Iterator[str]:
    with serve(redis_server, f"oas-{uuid.uuid4().hex[:8]}", "--seats", "1000000") as base:
        yield base


def seed(base: str) -> tuple[list[str], list[str]]:
    """Lobbies and users that exist (half of the lobbies booked)."""
    lobbies, users = [], []
    for n in range(SEEDS):
        user = f"seed-{n}"
        status, lobby = http("POST", f"{base}/lobbies/join", {"userId": user, "maxUsers": 2})
        assert status == 200, lobby
        lobbies.append(lobby["id"])
        users.append(user)
    for lobby_id in lobbies[::2]:
        assert http("POST", f"{base}/lobbies/{lobby_id}/book")[0] == 200
    return lobbies, users


def too_large_party(case: Any) -> bool:
    """The one shape rule JSON Schema cannot state: a party has at most ``maxUsers`` users
    (a comparison of two fields; the document says it in words)."""
    body = case.body if isinstance(case.body, dict) else {}
    return len(body.get("userIds", ())) > body.get("maxUsers", DEFAULT_MAX_USERS)


def test_every_schema_valid_request_is_answered_as_documented(service: str) -> None:
    """For every operation in the document, ``EXAMPLES`` schema-valid requests (Schemathesis'
    positive data; the lobby and user routes also with ids that exist) must get:

    - no 5xx (``not_a_server_error``);
    - 200, or 404/409 (a refusal about the pool's state), never 422: a schema-valid request
      is never rejected for its shape. The one exception the schema cannot express (a party
      larger than ``maxUsers``) must get exactly 422 ``invalid_input``;
    - a status the operation declares (``status_code_conformance``), with the declared
      content type (``content_type_conformance``) and a body matching the declared schema,
      error bodies included (``response_schema_conformance``).

    Every failing operation is reported, each with its smallest failing request.
    """
    lobbies, users = seed(service)
    schema = schemathesis.openapi.from_url(f"{service}/openapi.json")
    session = requests.Session()
    failures: dict[str, str] = {}
    calls: dict[str, int] = {}
    statuses: set[int] = set()
    for result in schema.get_all_operations():
        operation = result.ok()
        strategy = operation.as_strategy()
        if "{lobby_id}" in operation.path:
            known = [operation.as_strategy(path_parameters={"lobby_id": i}) for i in lobbies]
            strategy = st.one_of(strategy, *known)
        elif "{user_id}" in operation.path:
            known = [operation.as_strategy(path_parameters={"user_id": u}) for u in users]
            strategy = st.one_of(strategy, *known)
        calls[operation.label] = 0

        def check(case: Any) -> None:
            calls[case.operation.label] += 1
            response = case.call(base_url=service, session=session)
            statuses.add(response.status_code)
            case.validate_response(response, checks=CHECKS)
            answer = f"{case.as_curl_command(base_url=service)}\n-> {response.status_code} {response.text}"
            if too_large_party(case):
                assert response.status_code == 422, answer
                assert response.json()["code"] == "invalid_input", answer
            else:
                assert response.status_code in ACCEPTED, f"schema-valid request refused: {answer}"

        try:
            FUZZ(given(strategy)(check))()
        except (AssertionError, BaseExceptionGroup) as exc:  # every operation's, not the first
            failures[operation.label] = f"{type(exc).__name__}: {exc}"[:3000]
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
    assert len(calls) >= 8, calls  # the document lists every route
    assert all(calls.values()), calls  # (one without input is asked once)
    assert sum(calls.values()) >= 5 * EXAMPLES, calls
    # Answers and refusals were both seen, so the error bodies' schemas were checked too.
    assert {200, 404, 409} <= statuses, statuses
