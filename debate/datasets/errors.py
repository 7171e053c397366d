"""One error type for every bad dataset input.

A broken data file should stop a run before any model is called, with a message a person can
act on without a traceback: which file, which line, which field. So every message is one line
of the form ``path:line: problem`` (or ``path: problem`` when no line applies).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError


class DatasetError(Exception):
    """A dataset file (or spec) that cannot be turned into questions.

    ``where`` is the file (or the dataset spec) at fault; ``line`` is 1-based; ``field`` names
    the record field at fault when there is one. ``str(error)`` is always a single line.
    """

    def __init__(
        self,
        where: str | Path,
        problem: str,
        *,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.where = str(where)
        self.line = line
        self.field = field
        self.problem = _one_line(problem)
        prefix = self.where if line is None else f"{self.where}:{line}"
        super().__init__(f"{prefix}: {self.problem}")


def from_validation(where: str | Path, line: int | None, exc: ValidationError) -> DatasetError:
    """Turn pydantic's multi-line report into our one-line form, naming the first bad field.

    Errors raised by a model-level validator carry no location; ``gold_index`` is the only such
    check on ``Question``, so that is the field we name.
    """
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = first.get("loc") or ()
    field = str(loc[0]) if loc else "gold_index"
    msg = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return DatasetError(where, f"invalid field '{field}': {msg}{more}", line=line, field=field)


def _one_line(text: str) -> str:
    return " ".join(text.split())
