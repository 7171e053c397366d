"""Tables to files and back: JSONL, CSV and Parquet, streamed in batches.

Every format holds the same rows as ``debate.storage.bulk.iter_rows`` gives them, with JSON
columns scrubbed of credentials (``debate.export.scrub``):

* JSONL: one UTF-8 JSON object per line (``ensure_ascii=False``), keys in column order;
  timestamps as ISO 8601 with microseconds and ``+00:00``; booleans ``true``/``false``; NULL
  as ``null``. The lossless format: ``import_jsonl`` rebuilds a database from it exactly.
* CSV: ``csv`` module, ``QUOTE_MINIMAL``, written with ``newline=""`` (line endings ``\\r\\n``;
  newlines, quotes, commas, tabs inside text are quoted and survive). One header row of column
  names. Booleans ``true``/``false``, timestamps as in JSONL, floats as Python's shortest exact
  ``repr``. NULL is an empty field, so only in CSV a NULL and an empty string look the same
  (only nullable columns are affected; see the schemas). Read back with ``csv.reader`` over a
  file opened with ``newline=""``, or ``pandas.read_csv(..., keep_default_na=False)``; long
  prompts may need ``csv.field_size_limit`` raised.
* Parquet: ``pyarrow`` with the fixed schema of ``debate.export.schema.SCHEMAS``, one row group
  per batch, so column types never depend on the data.

Files are written to ``NAME.partial`` and renamed when complete: a failed export leaves no
half file behind.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from debate.export.errors import ExportError
from debate.export.schema import SCHEMAS
from debate.export.scrub import json_columns, scrub_rows
from debate.storage import Database, open_database
from debate.storage.bulk import TABLES, iter_rows, load_tables, snapshot, table_name

FORMATS: dict[str, str] = {"jsonl": "jsonl", "csv": "csv", "parquet": "parquet"}
"""Format -> file extension."""

DEFAULT_BATCH = 1000

Batches = Iterable[list[dict[str, Any]]]


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; formats: {', '.join(FORMATS)}")
    return fmt


@contextmanager
def open_existing(db: str | Path | Database) -> Iterator[Database]:
    """``db`` itself if it is an open ``Database``; otherwise the database file at that path,
    which must exist (reading never creates a database), closed afterwards."""
    if isinstance(db, Database):
        yield db
        return
    path = Path(db).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such database")
    database = open_database(path)
    try:
        yield database
    finally:
        database.close()


# -- export -------------------------------------------------------------------------------------


def export_table(
    db_path: str | Path | Database,
    table: str,
    fmt: str,
    out_path: str | Path,
    *,
    run_id: str | None = None,
    batch_size: int = DEFAULT_BATCH,
) -> int:
    """Write ``table`` (of one run, with ``run_id``) to ``out_path`` as ``fmt`` (``jsonl``,
    ``csv`` or ``parquet``). Returns the number of rows written."""
    fmt = check_format(fmt)
    name = table_name(table)
    with open_existing(db_path) as db:
        return _write(name, fmt, iter_rows(db, name, run_id=run_id, batch_size=batch_size), Path(out_path))


def export_all(
    db_path: str | Path | Database,
    fmt: str,
    out_dir: str | Path,
    *,
    run_id: str | None = None,
    batch_size: int = DEFAULT_BATCH,
) -> dict[str, int]:
    """Every table into ``out_dir/<table>.<ext>`` (``runs.jsonl``, ``calls.jsonl``, ...), all
    read from one snapshot, so the files agree even while a run writes. Returns rows per table."""
    fmt = check_format(fmt)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    with open_existing(db_path) as db, snapshot(db) as snap:
        for name in TABLES:
            batches = snap.iter_rows(name, run_id=run_id, batch_size=batch_size)
            counts[name] = _write(name, fmt, batches, out / f"{name}.{FORMATS[fmt]}")
    return counts


def _write(table: str, fmt: str, batches: Batches, out: Path) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    json_cols = json_columns(SCHEMAS[table].names)
    scrubbed = (scrub_rows(rows, json_cols) for rows in batches)
    try:
        n = _WRITERS[fmt](table, scrubbed, tmp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return n


def _iso(v: datetime) -> str:
    return v.isoformat(timespec="microseconds")


def _json_value(v: Any) -> Any:
    return _iso(v) if isinstance(v, datetime) else v


def _write_jsonl(table: str, batches: Batches, path: Path) -> int:
    n = 0
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for rows in batches:
            f.writelines(
                json.dumps({k: _json_value(v) for k, v in row.items()}, ensure_ascii=False) + "\n" for row in rows
            )
            n += len(rows)
    return n


def _csv_value(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, datetime):
        return _iso(v)
    if isinstance(v, float):
        return repr(v)
    return v


def _write_csv(table: str, batches: Batches, path: Path) -> int:
    n = 0
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, quoting=csv.QUOTE_MINIMAL)
        w.writerow(SCHEMAS[table].names)
        for rows in batches:
            w.writerows([_csv_value(v) for v in row.values()] for row in rows)
            n += len(rows)
    return n


def _write_parquet(table: str, batches: Batches, path: Path) -> int:
    schema = SCHEMAS[table]
    n = 0
    with pq.ParquetWriter(path, schema) as w:
        for rows in batches:
            # One row group per batch, typed by the declared schema, never by the data.
            w.write_batch(pa.RecordBatch.from_pylist(rows, schema=schema))
            n += len(rows)
    return n


_WRITERS = {"jsonl": _write_jsonl, "csv": _write_csv, "parquet": _write_parquet}


# -- import -------------------------------------------------------------------------------------


def import_jsonl(
    db_path: str | Path, files: Mapping[str, str | Path], *, batch_size: int = DEFAULT_BATCH
) -> dict[str, int]:
    """Rebuild a database from JSONL exports: ``files`` maps table -> file (``export_all``'s
    ``<table>.jsonl``). Tables load in foreign-key order in one transaction, with their
    original ids and timestamps; every target table must be empty. If ``db_path`` did not
    exist and the import fails, no database is left behind. Returns rows per table."""
    paths: dict[str, Path] = {}
    for t, p in files.items():
        name = table_name(t)
        if name in paths:
            raise ExportError(f"table {name!r} given twice")
        paths[name] = Path(p)
    for p in paths.values():
        if not p.is_file():
            raise FileNotFoundError(f"{p}: no such file")
    target = Path(db_path).expanduser()
    created = not target.exists()
    try:
        return load_tables(target, {t: _read_jsonl(p) for t, p in paths.items()}, batch_size=batch_size)
    except BaseException:
        if created:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{target}{suffix}").unlink(missing_ok=True)
        raise


def jsonl_files(directory: str | Path) -> dict[str, Path]:
    """The ``<table>.jsonl`` files of a directory written by ``export_all(..., "jsonl", dir)``;
    ``ExportError`` naming any that are missing."""
    d = Path(directory)
    if not d.is_dir():
        raise FileNotFoundError(f"{d}: no such directory")
    files = {t: d / f"{t}.jsonl" for t in TABLES}
    missing = [p.name for p in files.values() if not p.is_file()]
    if missing:
        raise ExportError(f"{d}: missing {', '.join(missing)} (write it with: debate export DB --table all --format jsonl)")
    return files


def _read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    try:
        with path.open("r", encoding="utf-8", newline="\n") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError as e:
                    raise ExportError(f"{path}:{lineno}: not valid JSON ({e})") from None
                if not isinstance(row, dict):
                    raise ExportError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
                yield row
    except UnicodeDecodeError as e:
        raise ExportError(f"{path}: not UTF-8 text ({e})") from None
