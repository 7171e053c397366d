"""``ViewerApp``: runs → episodes → transcript, over a database opened read-only."""

from __future__ import annotations

from pathlib import Path

from textual.app import App
from textual.binding import Binding
from textual.screen import Screen

from debate.storage.browse import Browser, open_browser
from debate.storage.errors import StorageError
from debate.viewer.episodes import EpisodesScreen
from debate.viewer.help import HelpScreen
from debate.viewer.runs import RunsScreen


class ViewerApp(App[None]):
    """Browse a debate database. ``ViewerApp.open(path)`` checks the file before the app starts,
    so a bad path is a one-line error, not a traceback in the terminal UI."""

    TITLE = "debate view"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
    ]

    def __init__(self, browser: Browser, *, run_id: str | None = None, live: bool = False) -> None:
        super().__init__()
        self.browser = browser
        self.run_id = run_id
        self.live = live

    @classmethod
    def open(cls, path: str | Path, *, run_id: str | None = None, live: bool = False) -> "ViewerApp":
        browser = open_browser(path)
        if run_id is not None:
            runs = browser.run_ids()
            if run_id not in runs:
                browser.close()
                raise StorageError(f"{path}: no run named {run_id!r}; runs: {runs}")
        return cls(browser, run_id=run_id, live=live)

    def get_default_screen(self) -> Screen[None]:
        return RunsScreen(self.browser, live=self.live)

    def on_mount(self) -> None:
        if self.run_id is not None:
            self.push_screen(EpisodesScreen(self.browser, self.run_id, live=self.live))

    def on_unmount(self) -> None:
        self.browser.close()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())
