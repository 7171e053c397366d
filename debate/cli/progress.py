"""A rich progress bar fed by the orchestrator's progress callback."""

from __future__ import annotations

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from debate.orchestrator import Progress as RunProgress


class ProgressBar:
    def __init__(self) -> None:
        self._bar = Progress(
            TextColumn("[bold]episodes"), BarColumn(), MofNCompleteColumn(),
            TextColumn("errors {task.fields[errors]}  tokens {task.fields[tokens]:,}"), TimeElapsedColumn(),
        )
        self._task = self._bar.add_task("run", total=None, errors=0, tokens=0)

    def __enter__(self) -> "ProgressBar":
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()

    def __call__(self, p: RunProgress) -> None:
        self._bar.update(self._task, total=p.total, completed=p.skipped + p.done, errors=p.errors, tokens=p.tokens)
