"""``debate view [DB] [--run ID] [--live]``: the terminal transcript viewer."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from debate.cli.errors import user_errors


def register(app: typer.Typer) -> None:
    @app.command("view")
    def view(
        db: Annotated[str, typer.Argument(help="SQLite file written by 'debate run'.")] = "debate-runs.sqlite",
        run_id: Annotated[Optional[str], typer.Option("--run", help="Open this run's episodes directly.")] = None,
        live: Annotated[bool, typer.Option("--live", help="Follow a run still being written (re-reads every second).")] = False,
    ) -> None:
        """Browse runs, episodes and transcripts in the terminal (read-only; ? for keys)."""
        from debate.viewer import ViewerApp

        with user_errors():
            viewer = ViewerApp.open(db, run_id=run_id, live=live)
        viewer.run()
