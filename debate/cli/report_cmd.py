"""``debate analyse``: the full statistical report (bootstrap intervals, paired permutation
tests, calibration, debater win rates, quote verification, ratings) and optional figures.

Kept apart from ``app.py`` so the plain ``report`` stays fast and dependency-light; ``register``
adds the command to any typer app.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console

from debate.cli.errors import user_errors
from debate.config import ConfigError


def register(app: typer.Typer, console: Console | None = None) -> None:
    """Add the ``analyse`` command to ``app``."""
    out_console = console or Console()

    @app.command("analyse")
    def analyse_cmd(
        db: Annotated[str, typer.Argument(help="SQLite file written by 'debate run'.")] = "debate-runs.sqlite",
        run_id: Annotated[Optional[str], typer.Option("--run", help="Run name (default: every run in the file).")] = None,
        plot: Annotated[Optional[Path], typer.Option("--plot", help="Write PNG figures to this folder.")] = None,
        seed: Annotated[int, typer.Option(help="Seed for the bootstrap and Monte Carlo permutations.")] = 0,
        resamples: Annotated[int, typer.Option(min=1, help="Bootstrap resamples / Monte Carlo permutations.")] = 10_000,
        json_out: Annotated[Optional[Path], typer.Option("--json", help="Also save the analysis as JSON.")] = None,
    ) -> None:
        """Accuracy with Wilson and question-bootstrap CIs, paired permutation tests between
        protocols, calibration, win rates by side, quote verification and debater ratings."""
        from debate.report.summary import analyse
        from debate.storage import open_database

        with user_errors():
            if not Path(db).exists():
                raise FileNotFoundError(f"{db}: no such database")
            database = open_database(db)
            try:
                if run_id is not None and database.run(run_id) is None:
                    raise ConfigError(f"{db}: no run named {run_id!r}; runs: {[r.id for r in database.runs()]}")
                result = analyse(database, run_id, seed=seed, n_resamples=resamples)
            finally:
                database.close()
            printer = print_analysis(result, out_console, plot)
            if json_out is not None:
                json_out.parent.mkdir(parents=True, exist_ok=True)
                json_out.write_text(result.model_dump_json(indent=2), encoding="utf-8")
                printer.print(f"analysis saved to {json_out}", markup=False, highlight=False)


__all__ = ["print_analysis", "print_routing", "register"]


def print_routing(db: Any, run_id: str | None, console: Console) -> None:
    """The routed-experts table (accuracy vs compute per strategy) when the run routed any episode."""
    from debate.report.routing import render_routing, routing_table
    from debate.storage.analysis_queries import episode_compute, routing_turns

    rows = routing_table(db.outcomes(run_id), routing_turns(db, run_id), episode_compute(db, run_id))
    if rows:
        console.print(render_routing(rows, f"Routed experts: accuracy vs compute — {run_id or 'all runs'}"))


def print_analysis(result: Any, console: Console, plot: Path | None = None) -> Console:
    """Print every table of an ``Analysis`` (and write its figures); returns the console used."""
    from debate.report.summary import plot_analysis, render_analysis

    # Piped output would otherwise be cut at 80 columns.
    printer = console if console.is_terminal else Console(width=200)
    for renderable in render_analysis(result):
        printer.print(renderable)
    if plot is not None:
        for path in plot_analysis(result, plot):
            printer.print(f"figure: {path}", markup=False, highlight=False)
    return printer
