"""SQLite engines and the file check: the connection settings every reader and writer shares.

WAL lets the viewer and reports read while a run writes; ``busy_timeout`` makes a second process
wait for the write lock instead of failing; writes start with ``BEGIN IMMEDIATE`` so two
processes writing one file queue up rather than fail with a stale snapshot (``SQLITE_BUSY``
that no timeout can cure). ``synchronous=NORMAL`` is SQLite's advice for WAL: a commit survives
the process crashing; only an OS crash or power cut can undo the last few commits (never
corrupting the file), and each write costs no fsync, which matters with one write per turn.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event

from debate.storage.errors import StorageError

BUSY_TIMEOUT_S = 30
APPLICATION_ID = 0x44424154  # "DBAT": marks the file as a debate database (``PRAGMA application_id``)
SCHEMA_VERSION = 2  # ``PRAGMA user_version``; see migrations.py
_SQLITE_MAGIC = b"SQLite format 3\x00"


def check_file(path: Path) -> None:
    """Refuse paths that are not (empty or) SQLite files before SQLite gets confused by them."""
    if not path.exists():
        return
    if not path.is_file():
        raise StorageError(f"{path} is not a debate database (it is not a file)")
    with path.open("rb") as f:
        head = f.read(len(_SQLITE_MAGIC))
    if head and head != _SQLITE_MAGIC:
        raise StorageError(f"{path} is not a debate database (not an SQLite file)")


def check_identity(path: Path) -> None:
    """An SQLite file that holds tables must be one of ours, and not from a newer version."""
    if not path.exists():
        return
    con = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S)
    try:
        app_id = con.execute("PRAGMA application_id").fetchone()[0]
        version = con.execute("PRAGMA user_version").fetchone()[0]
        n_tables = con.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
    except sqlite3.DatabaseError as e:
        raise StorageError(f"{path} is not a debate database ({e})") from e
    finally:
        con.close()
    if n_tables and app_id != APPLICATION_ID:
        raise StorageError(f"{path} is not a debate database (an SQLite file with other tables)")
    if version > SCHEMA_VERSION:
        raise StorageError(f"{path} has schema version {version}; this code knows up to {SCHEMA_VERSION}")


def make_engine(path: Path, *, immediate: bool) -> Engine:
    """An engine on ``path``; ``immediate=True`` is for the writer (``BEGIN IMMEDIATE``)."""
    engine = create_engine(
        f"sqlite:///{path}",
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_S},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        if immediate:
            dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    if immediate:

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
