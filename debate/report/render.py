"""Accuracy tables for the terminal (rich)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text

from debate.report.accuracy import AccuracyRow


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def render_accuracy(rows: Sequence[AccuracyRow], title: str | Text | None = "Judge accuracy") -> Table:
    """Columns: Protocol, Judge, Experts (only when the rows are grouped by experts), n, Accuracy,
    95% CI, Parse fail, Errors, and Pending (only while something is unfinished)."""
    show_experts = any(r.expert_models is not None for r in rows)
    show_pending = any(r.pending for r in rows)
    table = Table(title=Text(title) if isinstance(title, str) else title)  # names are not markup
    table.add_column("Protocol", no_wrap=True)
    table.add_column("Judge", no_wrap=True)
    if show_experts:
        table.add_column("Experts")
    table.add_column("n", justify="right")
    table.add_column("Accuracy", justify="right")
    table.add_column("95% CI", justify="right", no_wrap=True)
    table.add_column("Parse fail", justify="right")
    table.add_column("Errors", justify="right")
    if show_pending:
        table.add_column("Pending", justify="right")
    for r in rows:
        cells = [r.variant or "—", r.judge_model or "—"]
        if show_experts:
            cells.append(r.expert_models or "—")
        cells += [
            str(r.n),
            _pct(r.accuracy) if r.accuracy is not None else "—",
            f"[{_pct(r.ci_low)}, {_pct(r.ci_high)}]" if r.n else "—",
            str(r.parse_failures),
            str(r.errors),
        ]
        if show_pending:
            cells.append(str(r.pending))
        table.add_row(*(Text(c) for c in cells))  # Text: "consultancy[correct]" is not markup
    return table
