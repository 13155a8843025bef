"""The Textual dashboard of ``lobbysim demo`` and ``lobbysim watch``.

The only part of ``simulator`` that imports Textual; it reads the engine (a
``Simulation`` or a ``PoolFollower``) and draws it.
"""

from ._app import LobbySimApp

__all__ = ["LobbySimApp"]
