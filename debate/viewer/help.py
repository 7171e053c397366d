"""The help screen (``?``): every key, by screen."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from debate.viewer.render import BOLD, DIM, UNVERIFIED, VERIFIED, role_style

KEYS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("Everywhere", (
        ("?", "this help (escape or ? closes it)"),
        ("q", "quit"),
        ("escape", "back: transcript → episodes → runs"),
        ("enter", "open the run or episode under the cursor"),
        ("↑ ↓ j k", "move / scroll a line"),
        ("pgup pgdn space", "a page"),
        ("home end g G", "first / last"),
    )),
    ("Episodes", (
        ("p", "cycle protocol variant"),
        ("c", "cycle judge result: all → incorrect → correct"),
        ("x", "only parse failures (on/off)"),
        ("e", "only errors (on/off)"),
        ("o", "cycle option order"),
        ("m", "cycle model (any role)"),
        ("s", "cycle status"),
        ("/", "search question and turn text (empty clears)"),
        ("backspace", "clear every filter"),
        ("r", "reload"),
    )),
    ("Transcript", (
        ("t", "show / hide every model call's prompt and reply"),
        ("v", "show / hide the passage (what the experts read; never the judge)"),
        ("n ]", "next episode of the list"),
        ("p [", "previous episode"),
        ("r", "reload"),
    )),
)


def help_text() -> Text:
    t = Text()
    t.append("debate view", style=BOLD)
    t.append(" — runs, episodes and transcripts of a debate database\n", style=DIM)
    for section, keys in KEYS:
        t.append(f"\n{section}\n", style=BOLD)
        for key, what in keys:
            t.append(f"  {key:<16}", style="bold #5fafff")
            t.append(f"{what}\n")
    t.append("\nTranscript colours\n", style=BOLD)
    for role, label in (("debater_a", "Debater A"), ("debater_b", "Debater B"), ("expert", "Consultant / expert"), ("judge", "Judge")):
        t.append("  ")
        t.append(label, style=role_style(role))
        t.append("\n")
    t.append("  ")
    t.append("verified quote", style=VERIFIED)
    t.append("   ")
    t.append("unverified quote", style=UNVERIFIED)
    t.append("\n\nModel text is shown exactly as stored; --live follows a run as it is written.", style=DIM)
    return t


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 84; max-width: 100%; height: auto; max-height: 90%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    """

    BINDINGS = [Binding("escape,question_mark", "close", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(help_text(), id="help-text")

    def action_close(self) -> None:
        self.dismiss()
