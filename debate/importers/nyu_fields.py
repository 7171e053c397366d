"""Checked field access into the NYU release's JSON (metadata rows and room files).

Every problem with the input becomes a one-line ``DatasetError`` naming the file (and the line,
for the metadata), so ``import_nyu`` can find them all before the database is touched. Shared by
``nyu_text`` (speech content) and ``nyu_rooms`` (metadata, room setup and rounds).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from debate.datasets.errors import DatasetError


def at(obj: Any, path: str, where: Path, kind: type | tuple[type, ...], *, line: int | None = None, label: str = "") -> Any:
    """``obj`` followed along the dotted ``path``, checked to be ``kind``; else a DatasetError.
    ``label`` says where ``obj`` itself sits in the file, for the message."""
    cur = obj
    full = f"{label}.{path}" if label else path
    for key in path.split("."):
        if not isinstance(cur, dict) or key not in cur:
            raise DatasetError(where, f"missing field '{full}'", line=line, field=full)
        cur = cur[key]
    if not isinstance(cur, kind) or (kind is int and isinstance(cur, bool)):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise DatasetError(where, f"field '{full}' should be {names}, got {type(cur).__name__}", line=line, field=full)
    return cur


def one_key(obj: Any, what: str, where: Path, line: int | None = None) -> tuple[str, Any]:
    if not isinstance(obj, dict) or len(obj) != 1:
        raise DatasetError(where, f"{what} should be an object with one key, got {json.dumps(obj)[:80]}", line=line)
    ((key, value),) = obj.items()
    return key, value


__all__ = ["at", "one_key"]
