"""The runs screen: every run in the file with its progress and judge accuracy."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Static

from debate.storage.browse import Browser, RunSummary, Tally
from debate.viewer.render import BOLD, DIM, ERROR, GOOD, lit

KEYS = "enter open run · ↑↓ move · r reload · ? help · q quit"
"""The key line at the bottom of the screen (``?`` shows them all)."""

ALL_RUNS = "\x00all"
"""Row key of the "(all runs)" row (no run id can be this)."""

COLUMNS = ("run", "status", "created", "episodes", "complete", "running", "pending", "error", "✓", "✗", "accuracy")


def _cells(run_id: Text, status: Text, created: str, t: Tally) -> tuple[Text, ...]:
    judged = t.correct + t.incorrect
    return (
        run_id,
        status,
        Text(created, style=DIM),
        Text(f"{t.total:,}", justify="right"),
        Text(f"{t.by_status.get('complete', 0):,}", justify="right"),
        Text(f"{t.by_status.get('running', 0):,}", justify="right"),
        Text(f"{t.by_status.get('pending', 0):,}", justify="right"),
        Text(f"{t.by_status.get('error', 0):,}", justify="right", style=ERROR if t.by_status.get("error") else ""),
        Text(f"{t.correct:,}", justify="right", style=GOOD),
        Text(f"{t.incorrect:,}", justify="right", style=ERROR),
        Text(f"{t.correct / judged:.1%}" if judged else "—", justify="right"),
    )


def run_cells(run: RunSummary) -> tuple[Text, ...]:
    name = lit(run.id, BOLD)
    if run.name and run.name != run.id:
        name.append(" ")
        name.append(lit(run.name, DIM))
    return _cells(name, lit(run.status), run.created_at.strftime("%Y-%m-%d %H:%M"), run.tally)


def total_tally(runs: list[RunSummary]) -> Tally:
    out = Tally()
    for r in runs:
        out.total += r.tally.total
        out.correct += r.tally.correct
        out.incorrect += r.tally.incorrect
        out.parse_failures += r.tally.parse_failures
        for k, v in r.tally.by_status.items():
            out.by_status[k] = out.by_status.get(k, 0) + v
    return out


class RunsScreen(Screen[None]):
    DEFAULT_CSS = """
    RunsScreen .keys { height: 1; padding: 0 1; background: $panel; }
    RunsScreen #where { height: 1; padding: 0 1; background: $boost; }
    RunsScreen DataTable { height: 1fr; }
    """

    BINDINGS = [Binding("enter", "open", "Open run", show=True), Binding("r", "reload", "Reload", show=False)]

    def __init__(self, browser: Browser, *, live: bool = False) -> None:
        super().__init__()
        self.browser = browser
        self.live = live
        self.runs: list[RunSummary] = []

    def compose(self) -> ComposeResult:
        yield Static(id="where")
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Static(Text(KEYS, style=DIM), classes="keys")

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one(DataTable)

    def on_mount(self) -> None:
        where = Text("runs in ", style=DIM)
        where.append(lit(self.browser.path.name, BOLD))
        if self.live:
            where.append("  live: refreshing every second", style=GOOD)
        where.append("   enter opens a run · ? help · q quits", style=DIM)
        self.query_one("#where", Static).update(where)
        self.table.add_columns(*COLUMNS)
        self.reload()
        self.table.focus()
        if self.live:
            self.set_interval(1.0, self.reload, name="live-runs")

    def reload(self) -> None:
        runs = self.browser.runs()
        if runs == self.runs and self.table.row_count:
            return
        self.runs = runs
        table = self.table
        row = table.cursor_row
        table.clear()
        for run in runs:
            table.add_row(*run_cells(run), key=run.id)
        if len(runs) > 1:
            table.add_row(*_cells(Text("(all runs)", style=DIM), Text(""), "", total_tally(runs)), key=ALL_RUNS)
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1))

    def action_reload(self) -> None:
        self.runs = []
        self.reload()

    def action_open(self) -> None:
        if not self.table.row_count:
            return
        key = self.table.coordinate_to_cell_key(self.table.cursor_coordinate).row_key.value
        self.open_run(None if key == ALL_RUNS else key)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        key = event.row_key.value
        self.open_run(None if key == ALL_RUNS else key)

    def open_run(self, run_id: str | None) -> None:
        from debate.viewer.episodes import EpisodesScreen

        self.app.push_screen(EpisodesScreen(self.browser, run_id, live=self.live))
