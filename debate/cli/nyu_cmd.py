"""``debate import-nyu``: load the NYU human/AI debate release into a debate database.

Kept out of ``app.py`` so the importer stays optional; ``register(app)`` adds the command.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from debate.cli.errors import user_errors


def register(app: typer.Typer) -> None:
    """Add ``import-nyu ROOT [--db FILE] [--name RUN] [--all-rooms]`` to ``app``."""

    @app.command("import-nyu")
    def import_nyu_command(
        root: Annotated[Path, typer.Argument(help="The release folder: debates/ and debates-metadata.jsonl.")],
        db: Annotated[str, typer.Option(help="SQLite file to import into.")] = "debate-runs.sqlite",
        name: Annotated[str, typer.Option(help="Run name; the paper-included rooms also go to NAME-paper.")] = "nyu-debates",
        all_rooms: Annotated[bool, typer.Option("--all-rooms", help="Also import rooms still in progress (default: Complete rooms only).")] = False,
    ) -> None:
        """Import the NYU debate/consultancy transcripts (Michael et al. 2023) as two runs, and print
        judge accuracy on the rooms the paper used. Re-running it resumes; nothing is duplicated."""
        from debate.cli.app import _print_report
        from debate.importers import import_nyu

        with user_errors():
            t0 = time.perf_counter()
            summary = import_nyu(root, db, run_name=name, only_complete=not all_rooms)
            for line in summary.lines():
                typer.echo(line)
            typer.echo(f"done in {time.perf_counter() - t0:.0f} s; accuracy on the rooms the paper used:")
            _print_report(db, summary.paper_run_id)
