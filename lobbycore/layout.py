"""How a pool's keys are laid out: the one value that says which store wrote a pool.

A pool name can hold keys in lobbycore's layout (unsharded, or split into N sub-pools) and in
the naive store's (the article's keys). Readers (:mod:`lobbycore.audit`), pool administration
(:mod:`lobbycore.admin`) and the applications pass a :class:`PoolLayout` rather than a loose
``naive``/``shards`` pair.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import _validate as valid

__all__ = ["PoolLayout"]


@dataclass(frozen=True, slots=True, order=True)
class PoolLayout:
    """How a pool's keys are laid out: what ``naive`` and ``shards`` to read it with."""

    naive: bool = False
    shards: int = 1

    def __post_init__(self) -> None:
        valid.shards(self.shards)
        valid.strategy_shards(self.strategy, self.shards)

    @property
    def strategy(self) -> str:
        """The store that writes this layout: ``naive`` or ``atomic``."""
        return "naive" if self.naive else "atomic"

    @classmethod
    def of(cls, strategy: str, shards: int = 1) -> PoolLayout:
        """The layout a store of ``strategy`` (``atomic`` or ``naive``) writes."""
        return cls(naive=strategy == "naive", shards=shards)

    @property
    def flags(self) -> str:
        """The ``lobbysim audit`` flags that read this layout."""
        if self.naive:
            return "--naive"
        return f"--shards {self.shards}" if self.shards > 1 else "no --shards"
