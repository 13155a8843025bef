"""The event log: lines wrapped at word boundaries, wrapped again when the width changes."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from textual.events import Resize
from textual.widgets import RichLog

LOG_LINES = 500


class EventLog(RichLog):
    def __init__(self, *, id: str | None = None) -> None:
        # min_width=1: RichLog renders at least min_width cells (78 by default) and a
        # narrow panel then cuts each line mid-word; wrap at the panel's width instead.
        super().__init__(id=id, max_lines=LOG_LINES, min_width=1, wrap=True, markup=False)
        self._texts: deque[str] = deque(maxlen=LOG_LINES)
        self._wrapped_at = 0

    def add(self, lines: Iterable[str]) -> None:
        for line in lines:
            self._texts.append(line)
            self.write(line)

    def on_resize(self, event: Resize) -> None:
        # RichLog wraps a line once, when written; a new width needs the lines again.
        width = self.scrollable_content_region.width
        if self._wrapped_at and width != self._wrapped_at:
            super().clear()
            for line in self._texts:
                self.write(line)
        self._wrapped_at = width
