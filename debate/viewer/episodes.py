"""The episodes screen: a run's episodes with filters, search and live counts.

Filters are single keys that cycle through the values the run actually has (protocol variant,
model, option order, status) or toggle (errors, parse failures); ``/`` searches question and
turn text. Every change is one count and one page query; the list never holds the run.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Input, Static

from debate.core import EpisodeStatus
from debate.storage.browse import Browser, EpisodeFilter, Facets, Tally
from debate.viewer.episode_list import EpisodeList, EpisodeListHeader
from debate.viewer.render import BOLD, DIM, ERROR, GOOD, STATUS_STYLE, lit, order_label
from debate.viewer.transcript import TranscriptScreen

KEYS = "enter open · esc back · c judge ✓/✗ · p protocol · x parse fail · e errors · o order · m model · s status · / search · ⌫ clear · ? help · q quit"
"""The key line at the bottom of the screen (``?`` shows them all)."""


def cycle(values: list[Any], current: Any) -> Any:
    """The value after ``current`` in ``[None, *values]`` (None: the filter is off)."""
    options: list[Any] = [None, *values]
    i = options.index(current) if current in options else 0
    return options[(i + 1) % len(options)]


def tally_text(shown: Tally, total: Tally, run_id: str | None, flt_correct: bool | None = None) -> Text:
    t = Text(no_wrap=True, end="")
    t.append("run ", style=DIM)
    t.append(lit(run_id) if run_id is not None else Text("(all runs)", style=DIM))
    t.append("  ")
    t.append(f"{shown.total:,}", style=BOLD)
    t.append(f" of {total.total:,} episodes" if shown.total != total.total else " episodes")
    for status in EpisodeStatus:
        n = shown.by_status.get(status.value, 0)
        if n:
            t.append("  ")
            t.append(f"{status.value} {n:,}", style=STATUS_STYLE[status])
    t.append("  ✓ ", style=GOOD)
    t.append(f"{shown.correct:,}")
    t.append("  ✗ ", style=ERROR)
    t.append(f"{shown.incorrect:,}")
    if shown.correct + shown.incorrect and flt_correct is None:
        t.append(f"  accuracy {shown.correct / (shown.correct + shown.incorrect):.1%}", style=DIM)
    if shown.parse_failures:
        t.append(f"  parse failures {shown.parse_failures:,}", style=ERROR)
    return t


def filter_text(flt: EpisodeFilter) -> Text:
    active = flt.active
    t = Text("filters ", style=DIM, no_wrap=True, end="")
    if not active:
        t.append("none", style=DIM)
    names = {"variant": "protocol", "correct": "judge", "parse_failure": "parse failures", "error": "errors only",
             "status": "status", "order": "order", "model": "model", "search": "search"}
    for i, (key, value) in enumerate(active.items()):
        t.append(" · " if i else "")
        t.append(names[key], style=BOLD)
        if key == "correct":
            t.append("=" + ("correct" if value else "incorrect"))
        elif key == "order":
            t.append("=" + order_label(value))
        elif key == "status":
            t.append("=" + EpisodeStatus(value).value)
        elif key in ("variant", "model"):
            t.append("=")
            t.append(lit(value))
        elif key == "search":
            t.append("=")
            t.append(lit(repr(value)))
    return t


class EpisodesScreen(Screen[None]):
    DEFAULT_CSS = """
    EpisodesScreen .keys { height: 1; padding: 0 1; background: $panel; }
    EpisodesScreen { layout: vertical; }
    EpisodesScreen #tally { height: 1; padding: 0 1; background: $boost; }
    EpisodesScreen #filters { height: 1; padding: 0 1; background: $boost; }
    EpisodesScreen #search { display: none; }
    EpisodesScreen #search.shown { display: block; }
    """

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("p", "cycle('variant')", "Protocol", show=False),
        Binding("c", "cycle_correct", "Judge ✓/✗"),
        Binding("x", "toggle('parse_failure')", "Parse fail", show=False),
        Binding("e", "toggle('error')", "Errors", show=False),
        Binding("o", "cycle('order')", "Order", show=False),
        Binding("m", "cycle('model')", "Model", show=False),
        Binding("s", "cycle('status')", "Status", show=False),
        Binding("slash", "search", "Search"),
        Binding("backspace", "clear_filters", "Clear", show=False),
        Binding("r", "reload", "Reload", show=False),
    ]

    def __init__(self, browser: Browser, run_id: str | None, *, live: bool = False) -> None:
        super().__init__()
        self.browser = browser
        self.run_id = run_id
        self.live = live
        self.filter = EpisodeFilter(run_id=run_id)
        self._last: tuple[Tally, Tally] | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="tally")
        yield Static(id="filters")
        yield Input(placeholder="search question and turn text (enter: apply, escape: cancel)", id="search")
        yield EpisodeListHeader()
        yield EpisodeList(id="episodes")
        yield Static(Text(KEYS, style=DIM), classes="keys")

    @property
    def episode_list(self) -> EpisodeList:
        return self.query_one(EpisodeList)

    def on_mount(self) -> None:
        self.apply(self.filter)
        self.episode_list.focus()
        if self.live:
            self.set_interval(1.0, self.poll, name="live-episodes")

    # -- filtering ------------------------------------------------------------------------------

    def apply(self, flt: EpisodeFilter) -> None:
        """Show the episodes ``flt`` selects, cursor back at the top."""
        self.filter = flt
        shown = self.browser.tally(flt)
        total = self.browser.tally(EpisodeFilter(run_id=self.run_id))
        self.episode_list.reset(shown.total, lambda offset, limit: self.browser.page(flt, offset, limit), keep_cursor=False)
        self._show_counts(shown, total)
        self.query_one("#filters", Static).update(filter_text(flt))

    def _show_counts(self, shown: Tally, total: Tally) -> None:
        self._last = (shown, total)
        self.query_one("#tally", Static).update(tally_text(shown, total, self.run_id, self.filter.correct))

    def poll(self) -> None:
        """Live mode: re-count off the event loop (a search over a large run takes a moment)."""
        self._count_in_thread(self.filter)

    @work(thread=True, exclusive=True, group="live-count")
    def _count_in_thread(self, flt: EpisodeFilter) -> None:
        shown = self.browser.tally(flt)
        total = self.browser.tally(EpisodeFilter(run_id=self.run_id))
        self.app.call_from_thread(self._counted, flt, shown, total)

    def _counted(self, flt: EpisodeFilter, shown: Tally, total: Tally) -> None:
        """If anything changed (and the filter is still the same), re-read the rows on screen."""
        if flt == self.filter and self._last != (shown, total):
            self.episode_list.reset(shown.total, keep_cursor=True)
            self._show_counts(shown, total)

    def facets(self) -> Facets:
        return self.browser.facets(self.run_id)

    def action_cycle(self, field: str) -> None:
        if field == "variant":
            values: list[Any] = self.facets().variants
        elif field == "model":
            values = self.facets().models
        elif field == "order":
            values = self.facets().orders
        else:
            values = list(EpisodeStatus)
        self.apply(self.filter.model_copy(update={field: cycle(values, getattr(self.filter, field))}))

    def action_cycle_correct(self) -> None:
        """All -> incorrect -> correct -> all."""
        self.apply(self.filter.model_copy(update={"correct": cycle([False, True], self.filter.correct)}))

    def action_toggle(self, field: str) -> None:
        self.apply(self.filter.model_copy(update={field: not getattr(self.filter, field)}))

    def action_clear_filters(self) -> None:
        self.apply(EpisodeFilter(run_id=self.run_id))

    def action_reload(self) -> None:
        self.episode_list.reset(self.browser.count(self.filter), keep_cursor=True)
        self._show_counts(self.browser.tally(self.filter), self.browser.tally(EpisodeFilter(run_id=self.run_id)))

    # -- search ---------------------------------------------------------------------------------

    def action_search(self) -> None:
        box = self.query_one("#search", Input)
        box.value = self.filter.search or ""
        box.add_class("shown")
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._close_search()
        self.apply(self.filter.model_copy(update={"search": event.value.strip() or None}))

    def _close_search(self) -> bool:
        box = self.query_one("#search", Input)
        if not box.has_class("shown"):
            return False
        box.remove_class("shown")
        self.episode_list.focus()
        return True

    def action_back(self) -> None:
        if not self._close_search():
            self.dismiss()

    # -- opening --------------------------------------------------------------------------------

    def on_episode_list_selected(self, event: EpisodeList.Selected) -> None:
        event.stop()
        self.app.push_screen(TranscriptScreen(self.browser, event.summary.episode_id, live=self.live, step=self.step))

    def step(self, delta: int) -> str | None:
        """Move the cursor by ``delta``; the episode id now under it (None past either end)."""
        lst = self.episode_list
        target = lst.cursor + delta
        if not 0 <= target < lst.count:
            return None
        lst.move_to(target)
        current = lst.current
        return None if current is None else current.episode_id
