"""``lobbysim serve``: an HTTP API over lobbycore, the Python twin of the article's service.

:func:`create_app` builds the FastAPI application around an async store (:func:`store_opener`
opens one on an asyncio client); the command line (``lobbysim/cli/serve.py``) opens Redis
and runs it on uvicorn. Lobbies are answered in the article's shape (``id``, ``sessionId``,
``users``, ``createdAt``) plus ``maxUsers``.
"""

from .app import create_app, store_opener

__all__ = ["create_app", "store_opener"]
