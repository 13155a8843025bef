"""``lobbysim serve``: an HTTP API over lobbycore, the Python twin of the article's service.

:func:`create_app` builds the FastAPI application around an async store; the command line
(``lobbysim/cli/serve.py``) opens Redis and runs it on uvicorn. Lobbies are answered in the
article's shape (``id``, ``sessionId``, ``users``, ``createdAt``) plus ``maxUsers``.
"""

from .app import ENV_POOL, ENV_REDIS_URL, ENV_STRATEGY, ENV_TTL, app_from_env, create_app

__all__ = ["ENV_POOL", "ENV_REDIS_URL", "ENV_STRATEGY", "ENV_TTL", "app_from_env", "create_app"]
