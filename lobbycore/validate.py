"""lobbycore's input rules, for the applications built on it (the CLI, the HTTP service,
the Locust options): the same limits and the same wording as the stores' own checks, so
that one mistake reads the same wherever it is made."""

from __future__ import annotations

from ._validate import (
    ULID_PATTERN,
    must_be,
    number,
    number_range,
    strategy_shards,
    strategy_wait,
    whole,
    whole_range,
)

__all__ = [
    "ULID_PATTERN",
    "must_be",
    "number",
    "number_range",
    "strategy_shards",
    "strategy_wait",
    "whole",
    "whole_range",
]
