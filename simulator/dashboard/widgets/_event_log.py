"""The event log: lines wrapped at word boundaries, wrapped again when the width changes."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from rich.style import Style
from textual.events import Resize
from textual.strip import Strip
from textual.widgets import RichLog

LOG_LINES = 500
LINES_PER_FRAME = 20
KEPT = " VIOLATION "


class EventLog(RichLog):
    def __init__(self, *, id: str | None = None) -> None:
        # min_width=1: RichLog renders at least min_width cells (78 by default) and a
        # narrow panel then cuts each line mid-word; wrap at the panel's width instead.
        super().__init__(id=id, max_lines=LOG_LINES, min_width=1, wrap=True, markup=False)
        self._texts: deque[str] = deque(maxlen=LOG_LINES)
        self._wrapped_at = 0
        self._style: Style | None = None

    def add(self, lines: Sequence[str]) -> None:
        """Write one frame's new lines: the last LINES_PER_FRAME, after a line that counts
        the others (those naming a VIOLATION are kept, as many again at most). A frame's
        lines beyond a screenful scroll past unseen, and wrapping each one costs more
        than the rest of the frame at thousands of buyers a second."""
        if len(lines) > LINES_PER_FRAME:
            older, last = lines[:-LINES_PER_FRAME], lines[-LINES_PER_FRAME:]
            kept = [line for line in older if KEPT in line][:LINES_PER_FRAME]
            note = f"… {len(older) - len(kept):,} more lines"
            lines = [note, *kept, *last]
        for line in lines:
            self._texts.append(line)
            self.write(line, scroll_end=False)
        if lines and self.auto_scroll:
            # Now, once for the frame: scrolling after the screen's refresh, as each write
            # does, costs a second refresh of the screen every frame. Deferred only before
            # the first layout, which sets the height scrolled against.
            self.scroll_end(animate=False, immediate=bool(self.size), x_axis=False)

    def render_line(self, y: int) -> Strip:
        # RichLog's own, with the log's style looked up once per theme, not twice a line:
        # every frame that adds lines scrolls the log and repaints each of its lines.
        if self._style is None:
            self._style = self.rich_style
        scroll_x, scroll_y = self.scroll_offset
        line = self._render_line(scroll_y + y, scroll_x, self.scrollable_content_region.width)
        return line.apply_style(self._style)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style = None

    def on_resize(self, event: Resize) -> None:
        # RichLog wraps a line once, when written; a new width needs the lines again.
        width = self.scrollable_content_region.width
        if self._wrapped_at and width != self._wrapped_at:
            super().clear()
            for line in self._texts:
                self.write(line)
        self._wrapped_at = width
