"""A read-only text view that draws only the rows on screen (the toolong approach).

It holds a list of logical ``Line``s and an index of wrapped rows (line, start offset) built
once per width; ``render_line`` slices one row out of its line on demand and caches the strip.
A megabyte transcript is one pass to index and a screenful of work to draw, never a widget per
line.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence

from rich.cells import cell_len, get_character_cell_size
from rich.text import Text
from textual.binding import Binding
from textual.cache import LRUCache
from textual.events import Resize
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from debate.viewer.render import Line

_TOKEN = re.compile(r"\S+\s*|\s+")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def text_cells(text: str) -> int:
    """Cells ``text`` takes; only its non-ASCII runs are measured character by character."""
    if text.isascii():
        return len(text)
    return len(text) + sum(cell_len(run) - len(run) for run in _NON_ASCII.findall(text))


def wrap_starts(text: str, width: int) -> list[int]:
    """Offsets where each wrapped row of ``text`` starts, greedy by words; a word wider than
    ``width`` is folded. Always starts with 0."""
    width = max(1, width)
    if len(text) <= width // 2 or text_cells(text) <= width:  # no character is wider than 2 cells
        return [0]
    ascii_only = text.isascii()
    measure = len if ascii_only else cell_len
    starts = [0]
    used = 0
    for m in _TOKEN.finditer(text):
        token = m.group()
        word_w = measure(token.rstrip())
        if used + word_w <= width:
            used += measure(token)
            continue
        if word_w <= width:
            starts.append(m.start())
            used = measure(token)
            continue
        for i, ch in enumerate(token, start=m.start()):  # fold a word longer than a row
            w = 1 if ascii_only else get_character_cell_size(ch)
            if used and used + w > width and not ch.isspace():
                starts.append(i)
                used = 0
            used += w
    return starts


class LineView(ScrollView, can_focus=True):
    """Scrollable, wrapped, read-only lines. ``set_lines`` replaces the content."""

    DEFAULT_CSS = """
    LineView {
        background: $surface;
        overflow-x: hidden;
        overflow-y: scroll;
        scrollbar-gutter: stable;
        &:focus { background-tint: $foreground 3%; }
    }
    """

    BINDINGS = [
        Binding("j", "scroll_down", "Down", show=False),
        Binding("k", "scroll_up", "Up", show=False),
        Binding("space", "page_down", "Page down", show=False),
        Binding("home,g", "top", "Top", show=False),
        Binding("end,G", "bottom", "End", show=False),
    ]

    def __init__(self, lines: Sequence[Line] = (), *, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._lines: list[Line] = list(lines)
        self._row_line: list[int] = []
        self._row_start: list[int] = []
        self._wrap_width = 0
        self._cache: LRUCache[tuple[int, int], Strip] = LRUCache(1024)

    # -- content ------------------------------------------------------------------------------

    @property
    def lines(self) -> list[Line]:
        return self._lines

    @property
    def row_count(self) -> int:
        """Wrapped rows at the current width."""
        return len(self._row_line)

    def set_lines(self, lines: Sequence[Line], *, keep_position: bool = False) -> None:
        """Show ``lines``; with ``keep_position`` the view stays on the same logical line (or at
        the end, if it was at the end)."""
        at_end = self.row_count > 0 and self.scroll_offset.y >= self.max_scroll_y
        top_line = self._row_line[self.scroll_offset.y] if keep_position and self.scroll_offset.y < self.row_count else 0
        self._lines = list(lines)
        self._rewrap(self._wrap_width or self.size.width or 80)
        if keep_position and at_end:
            self.scroll_to(y=self.max_scroll_y, animate=False)
        elif keep_position:
            self.scroll_to(y=self.first_row_of(top_line), animate=False)
        else:
            self.scroll_to(y=0, animate=False)

    def first_row_of(self, line_index: int) -> int:
        """The first wrapped row of logical line ``line_index``."""
        return bisect.bisect_left(self._row_line, line_index)

    def row_text(self, row: int) -> str:
        """The plain text drawn on wrapped row ``row`` (gutter included)."""
        return self._row_text(row).plain

    def _rewrap(self, width: int) -> None:
        self._wrap_width = width
        self._cache.clear()
        rows_line: list[int] = []
        rows_start: list[int] = []
        for i, line in enumerate(self._lines):
            avail = width - (line.gutter.cell_len if line.gutter is not None else 0)
            starts = wrap_starts(line.text, avail)
            rows_line.extend([i] * len(starts))
            rows_start.extend(starts)
        self._row_line, self._row_start = rows_line, rows_start
        self.virtual_size = Size(width, len(rows_line))
        self.refresh()

    def on_resize(self, event: Resize) -> None:
        if self.size.width and self.size.width != self._wrap_width:
            top = self._row_line[self.scroll_offset.y] if self.scroll_offset.y < self.row_count else 0
            self._rewrap(self.size.width)
            self.scroll_to(y=self.first_row_of(top), animate=False)

    # -- drawing ------------------------------------------------------------------------------

    def _row_text(self, row: int) -> Text:
        li = self._row_line[row]
        line = self._lines[li]
        start = self._row_start[row]
        end = self._row_start[row + 1] if row + 1 < len(self._row_line) and self._row_line[row + 1] == li else len(line.text)
        body = line.to_text(start, end)
        if line.gutter is None:
            return body
        out = Text(no_wrap=True, end="")
        out.append_text(line.gutter)  # the gutter's style stays on the gutter
        out.append_text(body)
        return out

    def render_line(self, y: int) -> Strip:
        row = self.scroll_offset.y + y
        width = self.size.width
        base = self.rich_style
        key = (row, width)
        if row >= self.row_count:
            return Strip.blank(width, base)
        cached = self._cache.get(key)
        if cached is None:
            text = self._row_text(row)
            cached = Strip(list(text.render(self.app.console)), text.cell_len)
            self._cache[key] = cached
        return cached.apply_style(base).crop_extend(0, width, base)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()

    # -- keys -----------------------------------------------------------------------------------

    def action_top(self) -> None:
        self.scroll_to(y=0, animate=False)

    def action_bottom(self) -> None:
        self.scroll_to(y=self.max_scroll_y, animate=False)
