"""Input errors end the command with one line and a non-zero exit, never a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import typer

from debate.config import ConfigError
from debate.datasets import DatasetError
from debate.experts.library.library import LibraryError
from debate.orchestrator.runner import RunAborted
from debate.storage import ConfigMismatchError, StorageError

USER_ERRORS: tuple[type[BaseException], ...] = (
    ConfigError, DatasetError, ConfigMismatchError, StorageError, FileNotFoundError, RunAborted, LibraryError,
)


@contextmanager
def user_errors() -> Iterator[None]:
    try:
        yield
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None


def guarded(fn: Callable[..., None]) -> Callable[..., None]:
    def wrapper(*args: object, **kwargs: object) -> None:
        with user_errors():
            fn(*args, **kwargs)

    wrapper.__wrapped__ = fn  # type: ignore[attr-defined]
    return wrapper
