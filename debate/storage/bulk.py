"""Whole tables in and out, in batches: what exports and imports are built on.

``iter_rows`` streams one table as plain dicts (columns in table order, values as Python types:
``str``, ``int``, ``float``, ``bool``, ``None``, and timezone-aware UTC ``datetime``), a batch at a
time from one SQL statement, so a 10,000-episode database is never held in memory at once.
``snapshot`` reads several tables from one consistent point in time (a run may be writing).
``load_rows``/``load_tables`` put such rows back verbatim (same primary keys, same timestamps)
into empty tables: importing an export into a new database.

Table names are the export names: ``runs``, ``passages``, ``questions``, ``episodes``, ``turns``,
``calls`` (the ``model_calls`` table; that name is accepted too) and ``verdicts``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Connection,
    DateTime,
    Float,
    Integer,
    Select,
    String,
    Table,
    Text,
    TypeDecorator,
    literal_column,
    select,
)
from sqlalchemy.exc import IntegrityError

from debate.storage.database import Database, open_database
from debate.storage.errors import StorageError
from debate.storage.tables import EpisodeRow, ModelCallRow, PassageRow, QuestionRow, RunRow, TurnRow, VerdictRow

TABLES: dict[str, Table] = {
    "runs": RunRow.__table__,  # type: ignore[attr-defined]
    "passages": PassageRow.__table__,  # type: ignore[attr-defined]
    "questions": QuestionRow.__table__,  # type: ignore[attr-defined]
    "episodes": EpisodeRow.__table__,  # type: ignore[attr-defined]
    "turns": TurnRow.__table__,  # type: ignore[attr-defined]
    "calls": ModelCallRow.__table__,  # type: ignore[attr-defined]
    "verdicts": VerdictRow.__table__,  # type: ignore[attr-defined]
}
"""Export name -> SQL table, in foreign-key order (a table only references tables before it)."""

ALIASES = {"model_calls": "calls"}


def table_name(name: str) -> str:
    """The export name of ``name`` (``model_calls`` -> ``calls``); ``StorageError`` if unknown."""
    canonical = ALIASES.get(name, name)
    if canonical not in TABLES:
        raise StorageError(f"unknown table {name!r}; tables: {', '.join(TABLES)}")
    return canonical


def columns(table: str) -> tuple[str, ...]:
    """Column names of ``table`` in their stable (declared) order."""
    return tuple(c.name for c in TABLES[table_name(table)].columns)


# -- reading ------------------------------------------------------------------------------------


def _query(table: str, run_id: str | None) -> Select[Any]:
    t = TABLES[table]
    stmt = select(t)
    if run_id is not None:
        ep = TABLES["episodes"]
        run_episodes = select(ep.c.id).where(ep.c.run_id == run_id)
        run_questions = select(ep.c.question_uid).where(ep.c.run_id == run_id)
        if table == "runs":
            stmt = stmt.where(t.c.id == run_id)
        elif table in ("episodes", "calls"):
            stmt = stmt.where(t.c.run_id == run_id)
        elif table in ("turns", "verdicts"):
            stmt = stmt.where(t.c.episode_id.in_(run_episodes))
        elif table == "questions":
            stmt = stmt.where(t.c.uid.in_(run_questions))
        elif table == "passages":
            q = TABLES["questions"]
            stmt = stmt.where(t.c.hash.in_(select(q.c.passage_hash).where(q.c.uid.in_(run_questions))))
    # rowid is insertion order (and equals the id of the integer-keyed tables).
    return stmt.order_by(literal_column(f"{t.name}.rowid"))


def _check_args(conn: Connection, table: str, run_id: str | None, batch_size: int) -> str:
    name = table_name(table)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if run_id is not None:
        runs = TABLES["runs"]
        if conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
            known = [r for (r,) in conn.execute(select(runs.c.id).order_by(literal_column("runs.rowid")))]
            raise StorageError(f"no run {run_id!r} in the database; runs: {known}")
    return name


def _stream(conn: Connection, table: str, run_id: str | None, batch_size: int) -> Iterator[list[dict[str, Any]]]:
    t = TABLES[table]
    names = [c.name for c in t.columns]
    times = [c.name for c in t.columns if isinstance(_base(c.type), DateTime)]
    result = conn.execute(_query(table, run_id))
    try:
        while batch := result.fetchmany(batch_size):
            rows = [dict(zip(names, r)) for r in batch]
            for row in rows:
                for c in times:
                    v = row[c]
                    if v is not None and v.utcoffset() is None:  # sqlmodel < 0.0.50 returns naive UTC
                        row[c] = v.replace(tzinfo=timezone.utc)
            yield rows
    finally:
        result.close()


def iter_rows(
    db: Database, table: str, *, run_id: str | None = None, batch_size: int = 1000
) -> Iterator[list[dict[str, Any]]]:
    """Batches of ``table``'s rows as dicts, in insertion order.

    With ``run_id``: runs, episodes and calls by their run column; turns and verdicts through
    their episode; questions and passages are those the run's episodes use. An unknown run
    raises ``StorageError``, as does an unknown table (both checked before the first batch).
    """
    with db.engine.connect() as conn:
        name = _check_args(conn, table, run_id, batch_size)

    def gen() -> Iterator[list[dict[str, Any]]]:
        with db.engine.connect() as conn:
            yield from _stream(conn, name, run_id, batch_size)

    return gen()


class Snapshot:
    """Reads of several tables that all see the database as it was at one moment."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def iter_rows(
        self, table: str, *, run_id: str | None = None, batch_size: int = 1000
    ) -> Iterator[list[dict[str, Any]]]:
        """As module-level ``iter_rows``; consume one iterator before starting the next."""
        name = _check_args(self._conn, table, run_id, batch_size)
        return _stream(self._conn, name, run_id, batch_size)


@contextmanager
def snapshot(db: Database) -> Iterator[Snapshot]:
    """``with snapshot(db) as snap: snap.iter_rows("episodes")...``: one read transaction, so an
    export of every table is consistent even while a run is writing (WAL keeps the snapshot)."""
    with db.engine.connect() as conn:
        # pysqlite opens no transaction for SELECTs; without one each statement would see a
        # different moment. BEGIN (deferred) pins the snapshot at the first read.
        conn.exec_driver_sql("BEGIN")
        try:
            yield Snapshot(conn)
        finally:
            conn.rollback()


# -- writing ------------------------------------------------------------------------------------


def load_rows(
    db_path: str | Path | Database, table: str, rows: Iterable[Mapping[str, Any]], *, batch_size: int = 1000
) -> int:
    """Insert ``rows`` (dicts as ``iter_rows`` yields them, or their JSON form: timestamps as ISO
    8601 text) verbatim into ``table`` of the database at ``db_path`` (created if missing; an
    open ``Database`` is used as is). The table must be empty. Returns the number of rows inserted."""
    return load_tables(db_path, {table: rows}, batch_size=batch_size)[table_name(table)]


def load_tables(
    db_path: str | Path | Database, tables: Mapping[str, Iterable[Mapping[str, Any]]], *, batch_size: int = 1000
) -> dict[str, int]:
    """``load_rows`` for several tables in one transaction, in foreign-key order: either every
    row is loaded or none is. Every named table must be empty. Returns rows per table."""
    given: dict[str, Iterable[Mapping[str, Any]]] = {}
    for name, rows in tables.items():
        canonical = table_name(name)
        if canonical in given:
            raise StorageError(f"table {canonical!r} given twice")
        given[canonical] = rows
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    own = not isinstance(db_path, Database)
    db = open_database(Path(db_path).expanduser()) if own else db_path  # type: ignore[arg-type]
    path = db.path
    counts: dict[str, int] = {}
    try:
        with db.write_engine.begin() as conn:
            for name in given:
                t = TABLES[name]
                if conn.execute(select(literal_column("1")).select_from(t).limit(1)).first() is not None:
                    raise StorageError(
                        f"{path}: table {t.name!r} already has rows; rows are only loaded into empty tables "
                        "(import into a new database)"
                    )
            for name in (n for n in TABLES if n in given):
                counts[name] = _insert(conn, name, given[name], batch_size, path)
    finally:
        if own:
            db.close()
    return counts


def _insert(conn: Connection, name: str, rows: Iterable[Mapping[str, Any]], batch_size: int, path: Path) -> int:
    t = TABLES[name]
    n = 0
    it = iter(rows)
    while batch := list(islice(it, batch_size)):
        values = [_coerce(t, name, row, n + i + 1) for i, row in enumerate(batch)]
        try:
            conn.execute(t.insert(), values)
        except IntegrityError as e:
            raise StorageError(
                f"{path}: cannot load {name} rows {n + 1}-{n + len(batch)}: {e.orig} "
                "(load tables in foreign-key order into an empty database)"
            ) from e
        n += len(batch)
    return n


def _coerce(t: Table, name: str, row: Mapping[str, Any], number: int) -> dict[str, Any]:
    if not isinstance(row, Mapping):
        raise StorageError(f"{name} row {number}: expected an object, got {type(row).__name__}")
    names = [c.name for c in t.columns]
    if set(row) != set(names):
        missing = [c for c in names if c not in row]
        unknown = sorted(set(row) - set(names))
        raise StorageError(f"{name} row {number}: missing columns {missing}, unknown columns {unknown}")
    out: dict[str, Any] = {}
    for c in t.columns:
        v = row[c.name]
        try:
            out[c.name] = None if v is None else _value(c.type, v)
        except (TypeError, ValueError) as e:
            raise StorageError(f"{name} row {number}, column {c.name!r}: {e}") from None
    return out


def _base(type_: Any) -> Any:
    """The SQL type under any decorators (sqlmodel's ``AutoString``, ``UTCDateTime``)."""
    while isinstance(type_, TypeDecorator):
        type_ = type_.impl
    return type_


def _value(type_: Any, v: Any) -> Any:
    type_ = _base(type_)
    if isinstance(type_, DateTime):
        if isinstance(v, str):
            v = datetime.fromisoformat(v)
        if not isinstance(v, datetime):
            raise TypeError(f"expected a timestamp, got {v!r}")
        # Stored as UTC wall-clock time; a naive value is taken to be UTC already.
        return v.astimezone(timezone.utc) if v.utcoffset() is not None else v.replace(tzinfo=timezone.utc)
    if isinstance(type_, Boolean):
        if isinstance(v, bool):
            return v
        if type(v) is int and v in (0, 1):
            return bool(v)
        raise TypeError(f"expected true or false, got {v!r}")
    if isinstance(type_, Integer):
        if type(v) is not int:
            raise TypeError(f"expected an integer, got {v!r}")
        return v
    if isinstance(type_, Float):
        if type(v) not in (int, float):
            raise TypeError(f"expected a number, got {v!r}")
        return float(v)
    if isinstance(type_, (String, Text)):
        if not isinstance(v, str):
            raise TypeError(f"expected text, got {v!r}")
        return v
    raise TypeError(f"no loader for column type {type_!r}")  # a new column type: teach _value


__all__ = ["ALIASES", "TABLES", "Snapshot", "columns", "iter_rows", "load_rows", "load_tables", "snapshot", "table_name"]
