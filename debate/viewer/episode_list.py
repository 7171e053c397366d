"""The episode list: a virtual list over a paged query.

It knows only how many rows there are and how to fetch a page of them; ``render_line`` asks for
the page holding the row it draws (a small cache keeps the pages near the screen). A run of
10,000 or 1,000,000 episodes costs one count and a page per screenful, never a widget per row.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.segment import Segment
from rich.text import Text
from textual.binding import Binding
from textual.cache import LRUCache
from textual.events import Click
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget

from debate.storage.browse import EpisodeSummary
from debate.viewer.render import list_header, list_row

Fetch = Callable[[int, int], list[EpisodeSummary]]
"""``fetch(offset, limit)``: rows ``offset`` to ``offset + limit`` of the list."""


class EpisodeList(ScrollView, can_focus=True):
    """One row per episode, a cursor, ``enter`` to open. Feed it with ``reset(count, fetch)``."""

    COMPONENT_CLASSES = {"episode-list--cursor"}

    DEFAULT_CSS = """
    EpisodeList {
        background: $surface;
        overflow-x: hidden;
        overflow-y: scroll;
        scrollbar-gutter: stable;
        height: 1fr;
        & > .episode-list--cursor { background: $accent 30%; text-style: bold; }
        &:focus > .episode-list--cursor { background: $accent 55%; }
    }
    """

    BINDINGS = [
        Binding("up,k", "move(-1)", "Up", show=False),
        Binding("down,j", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown,space", "page(1)", "Page down", show=False),
        Binding("home,g", "first", "First", show=False),
        Binding("end,G", "last", "Last", show=False),
        Binding("enter", "open", "Open", show=True),
    ]

    class Selected(Message):
        """The user opened the episode under the cursor."""

        def __init__(self, summary: EpisodeSummary, index: int) -> None:
            super().__init__()
            self.summary = summary
            self.index = index

    def __init__(self, page_size: int = 100, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.page_size = page_size
        self.count = 0
        self.cursor = 0
        self._fetch: Fetch = lambda offset, limit: []
        self._pages: LRUCache[int, list[EpisodeSummary]] = LRUCache(64)
        self.pages_fetched = 0
        """How many pages were read from the database (the list never reads them all)."""

    # -- data -----------------------------------------------------------------------------------

    def reset(self, count: int, fetch: Fetch | None = None, *, keep_cursor: bool = True) -> None:
        """New contents: ``count`` rows read through ``fetch``. The cursor stays put (clamped)."""
        if fetch is not None:
            self._fetch = fetch
        self._pages.clear()
        self.count = max(0, count)
        self.cursor = min(self.cursor, max(0, self.count - 1)) if keep_cursor else 0
        self.virtual_size = Size(self.size.width, self.count)
        if not keep_cursor:
            self.scroll_to(y=0, animate=False)
        self.refresh()

    def summary(self, index: int) -> EpisodeSummary | None:
        """Row ``index`` (0-based), fetching its page if needed."""
        if not 0 <= index < self.count:
            return None
        page_no, offset = divmod(index, self.page_size)
        page = self._pages.get(page_no)
        if page is None:
            page = self._fetch(page_no * self.page_size, self.page_size)
            self.pages_fetched += 1
            self._pages[page_no] = page
        return page[offset] if offset < len(page) else None

    @property
    def current(self) -> EpisodeSummary | None:
        return self.summary(self.cursor)

    # -- drawing --------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        width = self.size.width
        base = self.rich_style
        summary = self.summary(index)
        if summary is None:
            return Strip.blank(width, base)
        text = list_row(index, summary, width)
        strip = Strip(list(text.render(self.app.console)), text.cell_len).apply_style(base).crop_extend(0, width, base)
        if index == self.cursor:
            cursor = self.get_component_rich_style("episode-list--cursor")
            strip = Strip(Segment.apply_style(strip, post_style=cursor), strip.cell_length)
        return strip

    def row_text(self, index: int) -> str:
        """The plain text of row ``index`` as drawn at the current width."""
        summary = self.summary(index)
        return "" if summary is None else list_row(index, summary, self.size.width or 120).plain

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, self.count)

    # -- cursor ---------------------------------------------------------------------------------

    def move_to(self, index: int) -> None:
        if self.count == 0:
            return
        old, self.cursor = self.cursor, max(0, min(self.count - 1, index))
        height = max(1, self.scrollable_content_region.height)
        top = self.scroll_offset.y
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False)
        self.refresh_line(old)
        self.refresh_line(self.cursor)

    def action_move(self, delta: int) -> None:
        self.move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.move_to(self.cursor + direction * max(1, self.scrollable_content_region.height - 1))

    def action_first(self) -> None:
        self.move_to(0)

    def action_last(self) -> None:
        self.move_to(self.count - 1)

    def action_open(self) -> None:
        summary = self.current
        if summary is not None:
            self.post_message(self.Selected(summary, self.cursor))

    def on_click(self, event: Click) -> None:
        self.focus()
        index = self.scroll_offset.y + event.y
        if 0 <= index < self.count:
            self.move_to(index)
            if event.chain >= 2:
                self.action_open()


class EpisodeListHeader(Widget):
    """The column titles above an ``EpisodeList`` (same widths, same truncation)."""

    DEFAULT_CSS = """
    EpisodeListHeader { height: 1; background: $panel; color: $text-muted; padding-right: 2; }
    """

    def render(self) -> Text:
        return list_header(self.size.width)
