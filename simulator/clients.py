"""The Redis clients a simulation is handed (opened by whoever runs it, e.g. the CLI)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lobbycore import redact_text


@dataclass(frozen=True)
class RedisClients:
    async_client: Any
    """The client every store call goes through (``redis.asyncio``, or a cluster client)."""
    sync_client: Any
    """The same server, for the caller's own checks and clean-up once the event loop is gone."""
    where: str
    """What to show the user: the redacted URL, or that Redis is embedded."""
    embedded: bool
    url: str | None = None
    """The URL the clients were opened with, kept only to mask its secrets in what is shown."""

    def shown(self, text: str) -> str:
        """``text`` (an error message) fit to show: the URL's password masked."""
        return text if self.url is None else redact_text(text, self.url)
