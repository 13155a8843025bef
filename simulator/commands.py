"""Command palette entries: every key binding's action, searchable by name."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

ACTIONS = (
    ("Pause / resume the simulation", "toggle_pause", "space"),
    ("Faster arrivals (x1.25)", "faster", "+"),
    ("Slower arrivals (/1.25)", "slower", "-"),
    ("Switch strategy: atomic ↔ naive", "switch_strategy", "s"),
    ("Book every full lobby now", "book_full", "b"),
    ("Reset the pool", "reset", "r"),
    ("Quit", "quit", "q"),
)


class SimCommands(Provider):
    async def discover(self) -> Hits:
        for name, action, key in ACTIONS:
            yield DiscoveryHit(name, partial(self.app.run_action, action), help=f"key: {key}")

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, action, key in ACTIONS:
            score = matcher.match(name)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(name),
                    partial(self.app.run_action, action),
                    help=f"key: {key}",
                )
