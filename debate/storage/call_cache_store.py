"""The model-call cache's table: one stored reply per content-addressed request key.

It may live in its own SQLite file or in a run database (an extra table there, created on
demand, so it needs no schema migration). Calls are tiny; the async methods run them in a
thread so a write waiting for another process's lock never blocks the event loop.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy.exc import DatabaseError
from sqlmodel import Field, Session, SQLModel

from debate.storage.engine import APPLICATION_ID, check_file, check_identity, make_engine
from debate.storage.errors import StorageError


def _now() -> datetime:
    return datetime.now(timezone.utc)


class CallCacheRow(SQLModel, table=True):
    __tablename__ = "call_cache"

    key: str = Field(primary_key=True)
    model: str = ""
    kind: str = ""
    """generate | score"""
    response_json: str = "{}"
    created_at: datetime = Field(default_factory=_now)


class CallCacheStore:
    """Open with ``open_call_cache``. ``get``/``put`` are synchronous; ``aget``/``aput`` run them in a thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.engine = make_engine(path, immediate=False)
        self.write_engine = make_engine(path, immediate=True)

    def __repr__(self) -> str:
        return f"CallCacheStore({str(self.path)!r})"

    def get(self, key: str) -> str | None:
        with Session(self.engine) as s:
            row = s.get(CallCacheRow, key)
            return None if row is None else row.response_json

    def put(self, key: str, model: str, kind: str, response_json: str) -> None:
        with Session(self.write_engine) as s:
            s.merge(CallCacheRow(key=key, model=model, kind=kind, response_json=response_json))
            s.commit()

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.exec_driver_sql("SELECT count(*) FROM call_cache").scalar() or 0)

    async def aget(self, key: str) -> str | None:
        return await asyncio.to_thread(self.get, key)

    async def aput(self, key: str, model: str, kind: str, response_json: str) -> None:
        await asyncio.to_thread(self.put, key, model, kind, response_json)

    def close(self) -> None:
        self.engine.dispose()
        self.write_engine.dispose()


def open_call_cache(path: str | Path) -> CallCacheStore:
    """Open (creating if needed) the call cache at ``path``: a new file, a cache file or a run database."""
    path = Path(path).expanduser()
    check_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    check_identity(path)
    store = CallCacheStore(path)
    try:
        with store.write_engine.begin() as conn:
            SQLModel.metadata.create_all(conn, tables=[CallCacheRow.__table__])  # type: ignore[attr-defined]
            # Mark the file as ours, so it may later also serve as (or already be) a run database.
            conn.exec_driver_sql(f"PRAGMA application_id={APPLICATION_ID}")
    except DatabaseError as e:
        store.close()
        raise StorageError(f"{path} is not a usable call cache ({e.orig or e})") from e
    return store


__all__ = ["CallCacheRow", "CallCacheStore", "open_call_cache"]
