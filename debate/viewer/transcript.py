"""The transcript screen: one episode's turns, verdicts and model calls in a ``LineView``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static

from debate.storage.browse import Browser, EpisodeBundle
from debate.viewer.lines import LineView
from debate.viewer.render import BOLD, DIM, STATUS_STYLE, correct_mark, lit, transcript_lines

Step = Callable[[int], "str | None"]
"""``step(+1)``: the id of the next episode in the list the transcript was opened from."""

KEYS = "esc back · ↑↓ pgup pgdn home end scroll · t call prompts · v passage · n/p next/previous episode · ? help · q quit"
"""The key line at the bottom of the screen (``?`` shows them all)."""


class TranscriptScreen(Screen[None]):
    DEFAULT_CSS = """
    TranscriptScreen .keys { height: 1; padding: 0 1; background: $panel; }
    TranscriptScreen #title { height: 1; padding: 0 1; background: $boost; }
    TranscriptScreen LineView { height: 1fr; }
    """

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("t", "toggle_calls", "Call texts"),
        Binding("v", "toggle_passage", "Passage"),
        Binding("n,right_square_bracket", "step(1)", "Next"),
        Binding("p,left_square_bracket", "step(-1)", "Previous"),
        Binding("r", "reload", "Reload", show=False),
    ]

    def __init__(self, browser: Browser, episode_id: str, *, live: bool = False, step: Step | None = None) -> None:
        super().__init__()
        self.browser = browser
        self.episode_id = episode_id
        self.live = live
        self._step = step
        self.call_text = False
        self.show_passage = False
        self.bundle: EpisodeBundle | None = None
        self._version: tuple[Any, ...] = ()

    def compose(self) -> ComposeResult:
        yield Static(id="title")
        yield LineView(id="transcript")
        yield Static(Text(KEYS, style=DIM), classes="keys")

    @property
    def view(self) -> LineView:
        return self.query_one(LineView)

    def on_mount(self) -> None:
        self.load()
        self.view.focus()
        if self.live:
            self.set_interval(1.0, self.poll, name="live-transcript")

    def load(self, *, keep_position: bool = False) -> None:
        self._version = self.browser.version(self.episode_id)
        self.bundle = self.browser.bundle(self.episode_id, call_text=self.call_text)
        title = self.query_one("#title", Static)
        if self.bundle is None:
            title.update(Text(f"episode {self.episode_id} is not in the database (any more)", style=DIM))
            self.view.set_lines([])
            return
        title.update(self._title(self.bundle))
        passage = self.browser.passage(self.bundle.passage_hash) if self.show_passage else None
        lines = transcript_lines(self.bundle, call_text=self.call_text, passage=passage)
        self.view.set_lines(lines, keep_position=keep_position)

    @staticmethod
    def _title(bundle: EpisodeBundle) -> Text:
        s = bundle.summary
        t = Text(no_wrap=True, end="")
        t.append(lit(s.variant, BOLD))
        t.append("  ")
        t.append(lit(s.question_id))
        t.append("  ")
        t.append(lit(s.status.value, STATUS_STYLE[s.status]))
        t.append("  ")
        t.append_text(correct_mark(s.correct))
        t.append(f"  {len(bundle.turns)} turns · {len(bundle.verdicts)} verdicts · {len(bundle.calls)} calls", style=DIM)
        t.append("  ")
        t.append(lit(s.episode_id, DIM))
        return t

    def poll(self) -> None:
        if self.browser.version(self.episode_id) != self._version:
            self.load(keep_position=True)

    def action_back(self) -> None:
        self.dismiss()

    def action_reload(self) -> None:
        self.load(keep_position=True)

    def action_toggle_calls(self) -> None:
        """Show or hide every model call's full prompt and reply."""
        self.call_text = not self.call_text
        self.load(keep_position=True)

    def action_toggle_passage(self) -> None:
        """Show or hide the hidden passage (what the experts read) above the turns."""
        self.show_passage = not self.show_passage
        self.load()

    def action_step(self, delta: int) -> None:
        if self._step is None:
            return
        episode_id = self._step(delta)
        if episode_id is None:
            self.notify("no more episodes in that direction", timeout=2)
            return
        self.episode_id = episode_id
        self.load()
