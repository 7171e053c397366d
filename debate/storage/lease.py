"""One process per run: a second ``debate run`` of the same run on the same file is refused.

Two processes resuming one run would both start its unfinished episodes and write their turns
twice. A byte-range lock (``fcntl.lockf``) on ``<db>.lock``, at an offset derived from the run
name, is held for the run's duration; the OS releases it if the process dies, so a killed run
never leaves a stale lock behind.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from debate.storage.errors import StorageError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, no protection
    fcntl = None  # type: ignore[assignment]


@contextmanager
def run_lease(db_path: str | Path, run_id: str) -> Iterator[None]:
    if fcntl is None:  # pragma: no cover
        yield
        return
    lock_path = Path(str(db_path) + ".lock")
    offset = int(hashlib.sha256(run_id.encode()).hexdigest()[:7], 16)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
        except OSError:
            raise StorageError(
                f"run {run_id!r} is being run by another process on {db_path}; wait for it to finish or use another --name"
            ) from None
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
