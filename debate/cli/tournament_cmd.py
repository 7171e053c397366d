"""``debate tournament``: cross-play debates between debater configs, then ratings."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from debate.cli.errors import user_errors
from debate.cli.progress import ProgressBar
from debate.config import load_config


def register(app: typer.Typer, console: Console | None = None) -> None:
    out = console or Console()

    @app.command("tournament")
    def tournament_cmd(
        config: Annotated[Path, typer.Argument(help="Config whose 'models:' define the debaters (and the judge, dataset, db).")],
        debater: Annotated[list[str], typer.Option("--debater", "-d", help="Repeatable: a model name from the config.")],
        rounds: Annotated[int, typer.Option(min=1, help="Debate rounds.")] = 2,
        name: Annotated[Optional[str], typer.Option(help="Run name (default: the config's name + '-tournament').")] = None,
        plot: Annotated[Optional[Path], typer.Option("--plot", help="Write PNG figures (incl. accuracy vs rating) here.")] = None,
    ) -> None:
        """Every pair of debaters (self-play included) debates every question in both option
        orders; prints Bradley-Terry/Elo ratings and judge accuracy against debater rating."""
        from debate.orchestrator import run_experiment
        from debate.orchestrator.runner import prepare
        from debate.orchestrator.tournament import tournament_config
        from debate.cli.report_cmd import print_analysis
        from debate.report.summary import analyse
        from debate.storage import open_database

        with user_errors():
            base = load_config(config)
            cfg = tournament_config(base.model_copy(update={"name": name or f"{base.name}-tournament"}), list(debater), rounds=rounds)
            questions = prepare(cfg)
            with ProgressBar() as bar:
                result = asyncio.run(run_experiment(cfg, questions=questions, progress=bar))
            out.print(f"{result.completed} debates run, {result.skipped} already complete, {result.errors} errors")
            db = open_database(cfg.db)
            try:
                analysis = analyse(db, cfg.name)
            finally:
                db.close()
            print_analysis(analysis, out, plot)
