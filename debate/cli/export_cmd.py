"""``debate export`` and ``debate import-jsonl``: tables to JSONL/CSV/Parquet files and back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer

from debate.cli.errors import user_errors

_TABLE_HELP = "runs | questions | passages | episodes | turns | verdicts | calls | all"


@contextmanager
def _errors() -> Iterator[None]:
    """Every expected failure is one ``error:`` line and exit 2 (OS errors included: an
    unwritable --out, a directory where a file should be)."""
    from debate.export import ExportError

    with user_errors():
        try:
            yield
        except FileNotFoundError:
            raise
        except OSError as e:
            raise ExportError(str(e)) from e


def export(
    db: Annotated[Path, typer.Argument(help="SQLite file written by 'debate run'.", show_default=False)],
    fmt: Annotated[str, typer.Option("--format", "-f", help="jsonl | csv | parquet")] = "jsonl",
    table: Annotated[str, typer.Option("--table", "-t", help=_TABLE_HELP)] = "all",
    run_id: Annotated[Optional[str], typer.Option("--run", help="Only this run (default: every run).")] = None,
    out: Annotated[
        Optional[Path],
        typer.Option(help="File, or directory for it (default: ./<db stem>-<table>.<ext>; for 'all' a directory ./<db stem>-all)."),
    ] = None,
) -> None:
    """Export tables to JSONL (lossless, re-importable), CSV or Parquet."""
    from debate.export import FORMATS, export_all, export_table
    from debate.export.files import check_format
    from debate.storage.bulk import table_name

    with _errors():
        check_format(fmt)
        name = "all" if table == "all" else table_name(table)
        if not db.is_file():
            raise FileNotFoundError(f"{db}: no such database")
        ext = FORMATS[fmt]
        if name == "all":
            target = out if out is not None else Path(f"{db.stem}-all")
            counts = export_all(db, fmt, target, run_id=run_id)
            for t, n in counts.items():
                typer.echo(f"{t}: {n} rows -> {target / f'{t}.{ext}'}")
        else:
            default = Path(f"{db.stem}-{name}.{ext}")
            target = default if out is None else out / default if out.is_dir() else out
            n = export_table(db, name, fmt, target, run_id=run_id)
            typer.echo(f"{name}: {n} rows -> {target}")


def import_jsonl(
    directory: Annotated[Path, typer.Argument(help="Directory written by 'debate export DB --table all --format jsonl'.", show_default=False)],
    db: Annotated[Path, typer.Option("--db", help="New SQLite file to build (must be new or empty).", show_default=False)],
) -> None:
    """Rebuild a database from a JSONL export: same rows, ids and timestamps."""
    from debate.export import import_jsonl as do_import
    from debate.export import jsonl_files

    with _errors():
        counts = do_import(db, jsonl_files(directory))
        for t, n in counts.items():
            typer.echo(f"{t}: {n} rows")
        typer.echo(f"imported into {db}")


def register(app: typer.Typer) -> None:
    """Add ``export`` and ``import-jsonl`` to ``app``."""
    app.command("export")(export)
    app.command("import-jsonl")(import_jsonl)
