"""Input checks. Each raises InvalidInput before anything is sent to Redis."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from ._errors import InvalidInput
from .defaults import (
    MAX_ID_BYTES,
    MAX_POOL_BYTES,
    MAX_SEATS,
    MAX_SHARDS,
    MAX_TTL_SECONDS,
    MAX_USERS_LIMIT,
    MAX_WAIT_REPLICAS,
    MAX_WAIT_TIMEOUT,
)

ULID_PATTERN = r"[0-7][0-9A-HJKMNP-TV-Z]{25}"
"""A lobby id: a ULID in Crockford base32, upper case (unanchored)."""
_ULID = re.compile(ULID_PATTERN)
_STREAM_ID = re.compile(r"\d{1,20}(-\d{1,20})?")


def _utf8(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be a str, not {type(value).__name__}")
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"{what} is not valid Unicode (lone surrogate)") from None


def opaque_id(value: object, what: str = "user id") -> str:
    """A user or request id: 1..256 UTF-8 bytes without NUL."""
    raw = _utf8(value, what)
    if not 1 <= len(raw) <= MAX_ID_BYTES:
        raise InvalidInput(f"{what} must be 1..{MAX_ID_BYTES} UTF-8 bytes, got {len(raw)}")
    if b"\0" in raw:
        raise InvalidInput(f"{what} must not contain NUL")
    return value  # type: ignore[return-value]  # checked to be a str above


def user_ids(values: object, max_users: int) -> tuple[str, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise InvalidInput("user_ids must be a sequence of user ids (not a single str)")
    users = tuple(opaque_id(u) for u in values)
    if not 1 <= len(users) <= max_users:
        raise InvalidInput(f"a party has 1..max_users ({max_users}) users, got {len(users)}")
    if len(set(users)) != len(users):
        raise InvalidInput("user_ids must be distinct")
    return users


# -- how a value out of range reads, in the library, the command line and Locust's options ---


def whole_range(low: int, high: int | None = None) -> str:
    """A range of whole numbers as every message says it: ``in 1..1000``, ``at least 1``."""
    return f"at least {low}" if high is None else f"in {low}..{high}"


def number_range(low: float, high: float | None = None, *, low_included: bool = False) -> str:
    """A range of numbers as every message says it: ``> 0``, ``in (0, 3600]``."""
    if high is None:
        return f"{'>=' if low_included else '>'} {low:g}"
    return f"in {'[' if low_included else '('}{low:g}, {high:g}]"


def must_be(bounds: str, value: float) -> str:
    """``must be <bounds>, got <value>``: the one wording of an out-of-range value (a flag's
    message puts its name first: ``--max-users must be in 1..1000, got 0``)."""
    shown = value if isinstance(value, int) else f"{value:g}"
    return f"must be {bounds}, got {shown}"


def whole(value: object, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{what} must be an int, not {type(value).__name__}")
    if not low <= value <= high:
        raise InvalidInput(f"{what} {must_be(whole_range(low, high), value)}")
    return value


def number(
    value: float, what: str, low: float, high: float | None = None, *, low_included: bool = False
) -> float:
    """A finite number above ``low`` (or equal to it if ``low_included``), at most ``high``."""
    above = value >= low if low_included else value > low
    if not (math.isfinite(value) and above and (high is None or value <= high)):
        bounds = number_range(low, high, low_included=low_included)
        raise InvalidInput(f"{what} {must_be(bounds, value)}")
    return value


def max_users(value: object) -> int:
    return whole(value, "max_users", 1, MAX_USERS_LIMIT)


def pool_name(value: object) -> str:
    raw = _utf8(value, "pool")
    if not 1 <= len(raw) <= MAX_POOL_BYTES:
        raise InvalidInput(f"pool must be 1..{MAX_POOL_BYTES} UTF-8 bytes")
    if b"{" in raw or b"}" in raw or b"\0" in raw:
        # Braces would change the key's hash tag, and so which pool (and slot) it belongs to.
        raise InvalidInput("pool must not contain '{', '}' or NUL")
    return value  # type: ignore[return-value]


def lobby_id(value: object, suffix: str = "") -> str:
    """A lobby id: a ULID, followed by ``.<shard>`` in a sharded pool (``suffix``)."""
    if (
        not isinstance(value, str)
        or not value.endswith(suffix)
        or not _ULID.fullmatch(value, 0, len(value) - len(suffix))
    ):
        shape = f"a ULID followed by {suffix!r}" if suffix else "a ULID string"
        raise InvalidInput(f"lobby id must be {shape}, got {value!r:.80}")
    return value


def shards(value: object) -> int:
    return whole(value, "shards", 1, MAX_SHARDS)


def strategy_shards(strategy: object, shards: int, what: str = "shards") -> None:
    """The naive strategy has no shards: the one rule (the stores' factory, every command)."""
    if strategy == "naive" and shards != 1:
        raise InvalidInput(
            f"{what} must be 1 with the naive strategy (it has no shards), got {shards}"
        )


def strategy_wait(strategy: object, replicas: int, what: str = "wait_replicas") -> None:
    """The naive strategy sends no WAIT: the one rule (the stores' factory, every command)."""
    if strategy == "naive" and replicas:
        raise InvalidInput(f"{what} needs the atomic strategy (the naive one has no WAIT)")


def wait(replicas: object, timeout: object) -> tuple[int, int]:
    """``wait_replicas`` (0..MAX_WAIT_REPLICAS, 0: off) and ``wait_timeout`` (seconds, in
    (0, MAX_WAIT_TIMEOUT]) -> (replicas, milliseconds, at least 1: WAIT's 0 blocks forever)."""
    n = whole(replicas, "wait_replicas", 0, MAX_WAIT_REPLICAS)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise InvalidInput(
            f"wait_timeout must be a number of seconds, not {type(timeout).__name__}"
        )
    seconds = number(timeout, "wait_timeout", 0.0, MAX_WAIT_TIMEOUT)
    return n, max(1, round(seconds * 1000))


def ttl_ms(value: object, what: str, *, allow_none: bool = True) -> int:
    """Seconds (int or float, > 0) or None (if allowed) -> milliseconds; 0 stands for 'never'."""
    if value is None and allow_none:
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"{what} must be a number of seconds{' or None' * allow_none}")
    if not (math.isfinite(value) and 0 < value <= MAX_TTL_SECONDS):
        raise InvalidInput(f"{what} must be in (0, {MAX_TTL_SECONDS}] seconds, got {value}")
    return max(1, round(value * 1000))


def seats(value: object) -> int | None:
    if value is None:
        return None
    return whole(value, "seats", 0, MAX_SEATS)


_U64_MAX = 2**64 - 1


def stream_id(value: object) -> str:
    """An event id to read after, as Redis accepts it for an exclusive XRANGE start:
    ``<ms>`` or ``<ms>-<seq>``, each part at most 2**64 - 1, and not the largest id."""
    match = isinstance(value, str) and _STREAM_ID.fullmatch(value)
    if not match:
        raise InvalidInput(f"event id must look like '1700000000000-0', got {value!r:.80}")
    parts = [int(p) for p in match.group(0).split("-")]
    if any(p > _U64_MAX for p in parts):
        raise InvalidInput(f"event id parts must be at most {_U64_MAX}, got {value!r:.80}")
    if parts == [_U64_MAX, _U64_MAX]:
        raise InvalidInput("no event can follow the largest event id")
    return match.group(0)
