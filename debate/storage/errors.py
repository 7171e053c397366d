"""Storage errors: the ones a caller can act on get their own type."""

from __future__ import annotations


class StorageError(RuntimeError):
    """The database cannot be used as asked (not a debate database, unknown episode, ...)."""


class ConfigMismatchError(StorageError):
    """A run id is being reused with a different config: resuming it would mix two experiments."""

    def __init__(self, run_id: str, stored_hash: str, new_hash: str) -> None:
        self.run_id = run_id
        self.stored_hash = stored_hash
        self.new_hash = new_hash
        super().__init__(
            f"run {run_id!r} already exists with config hash {stored_hash}, but this config hashes to "
            f"{new_hash}; use a new run name, or the original config to resume"
        )
