"""Limits, defaults and strategies, defined once.

The stores validate against these limits; the CLI, the simulator and the Locust options
import them, so a flag's range and default are the library's own and cannot drift.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

# Limits (inclusive). Input outside them raises InvalidInput before anything is sent.
MAX_ID_BYTES: Final = 256
MAX_USERS_LIMIT: Final = 1000
MAX_POOL_BYTES: Final = 128
MAX_TTL_SECONDS: Final = 10 * 365 * 24 * 3600
MAX_SEATS: Final = 2**53 - 1
MAX_BATCH: Final = 10_000
MAX_SHARDS: Final = 1024
# Durability (``wait_replicas``): replicas a write must reach, and how long WAIT may block.
MAX_WAIT_REPLICAS: Final = 100
MAX_WAIT_TIMEOUT: Final = 60.0
# lobbycore.connect's clients: seconds to connect, and to wait for a reply.
CONNECT_TIMEOUT: Final = 3.0
SOCKET_TIMEOUT: Final = 5.0

# Defaults of the stores, and so of every command and scenario built on them.
DEFAULT_POOL: Final = "ticket"
DEFAULT_MAX_USERS: Final = 4
DEFAULT_LOBBY_TTL: Final = 600.0
DEFAULT_BOOKING_TTL: Final = 24 * 3600.0
DEFAULT_REPLAY_WINDOW: Final = 30.0
DEFAULT_SWEEP_LIMIT: Final = 100
# A sweep call frees at most this many users past its first lobby (the largest lobby fits).
SWEEP_USER_BUDGET: Final = MAX_USERS_LIMIT
DEFAULT_EVENT_COUNT: Final = 100
READ_REPLY_BYTES: Final = 32 * 1024
"""The most a bounded read (events, ``lobbysim watch``, the audit's readers) asks the server
for in one round trip; an item larger than that alone (a lobby, a booking, an event) is read
alone. Under half of a ``client-output-buffer-limit normal 64kb`` (replies are estimated)."""
DEFAULT_WAIT_REPLICAS: Final = 0
"""0: no WAIT is sent (a write is acknowledged once the primary ran it)."""
DEFAULT_WAIT_TIMEOUT: Final = 1.0

Strategy = Literal["atomic", "naive"]
"""``atomic``: lobbycore; ``naive``: the article's algorithm (unsafe, for demos)."""
STRATEGIES: Final[tuple[Strategy, ...]] = get_args(Strategy)
