"""Schema migrations: a database written by an older version opens, upgraded in place.

Each step takes the schema from version N to N+1 and is plain SQL that keeps every row.
"""

from __future__ import annotations

from sqlalchemy import Connection

from debate.storage.engine import SCHEMA_VERSION

_STEPS: dict[int, list[str]] = {
    # 1 -> 2: turns record the letter the judge saw for the argued option.
    1: ["ALTER TABLE turns ADD COLUMN argues_for_letter VARCHAR"],
}


def migrate(conn: Connection, version: int) -> None:
    """Upgrade from ``version`` to ``SCHEMA_VERSION`` inside the caller's transaction."""
    while version < SCHEMA_VERSION:
        for sql in _STEPS[version]:
            conn.exec_driver_sql(sql)
        version += 1
        conn.exec_driver_sql(f"PRAGMA user_version={version}")
