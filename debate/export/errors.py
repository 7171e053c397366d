"""Export and import errors."""

from __future__ import annotations

from debate.storage.errors import StorageError


class ExportError(StorageError):
    """An export or import cannot be done as asked (unknown format, unreadable JSONL, ...).
    A ``StorageError``, so the CLI reports it as one ``error:`` line."""
