"""Generic multiple-choice JSONL: the format anyone can write by hand or export from a notebook.

One JSON object per line::

    {"id": "q1", "question": "...", "options": ["...", "..."], "answer": "B", "context": "..."}

``id`` is optional (default ``<file stem>-<line>``); the gold is ``gold_index`` (0-based int) or
``answer`` (a letter ``"A"``.. or the exact text of an option); the hidden passage is
``context`` (or ``passage``/``story``); ``title`` is optional; every other field is kept in
``Question.source``. Blank lines are skipped. Anything else wrong raises a one-line
``DatasetError`` naming file, line and field, because a bad record found halfway through a
paid run is far more expensive than one found at load time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from debate.core.question import LETTERS, Question
from debate.datasets.errors import DatasetError, from_validation

CONTEXT_FIELDS = ("context", "passage", "story")
_KNOWN_FIELDS = {"id", "question", "options", "gold_index", "answer", "title", *CONTEXT_FIELDS}


def load_jsonl(path: str | Path, *, limit: int | None = None) -> list[Question]:
    """Load questions from a generic JSONL file, in file order; ``limit`` keeps the first N."""
    check_limit(limit)
    path = Path(path)
    questions: list[Question] = []
    first_line: dict[str, int] = {}
    saw_record = False
    for line, record in read_records(path):
        saw_record = True
        if limit is not None and len(questions) >= limit:
            break
        q = record_to_question(record, where=path, line=line)
        if q.id in first_line:
            raise DatasetError(
                path, f"duplicate id '{q.id}' (first on line {first_line[q.id]})", line=line, field="id"
            )
        first_line[q.id] = line
        questions.append(q)
    if not saw_record:
        raise DatasetError(path, "file is empty")
    return questions


def read_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line number, object)`` for every non-blank line; bad lines raise ``DatasetError``.

    Lines are decoded one at a time so that bad UTF-8 is reported with its line number.
    """
    if not path.exists():
        raise DatasetError(path, "no such file")
    if not path.is_file():
        raise DatasetError(path, "not a file")
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise DatasetError(path, f"cannot read: {exc.strerror or exc}") from exc
    with handle:
        for line, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8-sig" if line == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise DatasetError(path, f"not valid UTF-8 (byte {exc.start + 1})", line=line) from exc
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                raise DatasetError(path, f"invalid JSON: {exc.msg} (column {exc.colno})", line=line) from exc
            if not isinstance(record, dict):
                raise DatasetError(path, f"expected a JSON object, got {_json_type(record)}", line=line)
            yield line, record


def record_to_question(record: dict[str, Any], *, where: Path, line: int) -> Question:
    """Build one ``Question`` from a generic record, or raise ``DatasetError`` naming the field."""
    qid = _id(record, where=where, line=line)
    question = require_str(record, "question", where=where, line=line)
    options = require_options(record, where=where, line=line)
    gold = _gold(record, options, where=where, line=line)
    context = _context(record, where=where, line=line)
    title = optional_str(record, "title", where=where, line=line)
    source = {k: v for k, v in record.items() if k not in _KNOWN_FIELDS}
    source.update({"dataset": "jsonl", "file": str(where), "line": line})
    try:
        return Question(
            id=qid, question=question, options=tuple(options), gold_index=gold,
            context=context, title=title, source=source,
        )
    except ValidationError as exc:
        raise from_validation(where, line, exc) from exc


# --- field helpers, shared with the QuALITY loader -------------------------------------------


def require_str(record: dict[str, Any], field: str, *, where: Path, line: int) -> str:
    """A field that must be present and a string."""
    if record.get(field) is None:
        raise DatasetError(where, f"missing field '{field}'", line=line, field=field)
    value = record[field]
    if not isinstance(value, str):
        raise DatasetError(where, f"field '{field}' must be a string, got {_json_type(value)}", line=line, field=field)
    return value


def optional_str(record: dict[str, Any], field: str, *, where: Path, line: int) -> str | None:
    """A field that may be absent or null, but is a string when given."""
    if record.get(field) is None:
        return None
    return require_str(record, field, where=where, line=line)


def require_options(record: dict[str, Any], *, where: Path, line: int) -> list[str]:
    """``options`` must be a JSON list of strings (count and emptiness are checked by ``Question``)."""
    if record.get("options") is None:
        raise DatasetError(where, "missing field 'options'", line=line, field="options")
    options = record["options"]
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
        raise DatasetError(where, "field 'options' must be a list of strings", line=line, field="options")
    return options


def require_gold_index(record: dict[str, Any], n_options: int, *, where: Path, line: int) -> int:
    """``gold_index`` must be a (non-bool) integer in range for the options."""
    value = record.get("gold_index")
    if value is None:
        raise DatasetError(where, "missing field 'gold_index'", line=line, field="gold_index")
    if isinstance(value, bool) or not isinstance(value, int):
        raise DatasetError(
            where, f"field 'gold_index' must be an integer, got {_json_type(value)}", line=line, field="gold_index"
        )
    if not 0 <= value < n_options:
        raise DatasetError(
            where, f"field 'gold_index' is {value}, out of range for {n_options} options", line=line, field="gold_index"
        )
    return value


def check_limit(limit: int | None) -> None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be a non-negative integer or None, got {limit!r}")


# --- private ---------------------------------------------------------------------------------


def _id(record: dict[str, Any], *, where: Path, line: int) -> str:
    value = record.get("id")
    if value is None:
        return f"{where.stem}-{line}"
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise DatasetError(where, f"field 'id' must be a string, got {_json_type(value)}", line=line, field="id")
    return str(value)


def _gold(record: dict[str, Any], options: list[str], *, where: Path, line: int) -> int:
    """Resolve the gold from ``gold_index`` and/or ``answer``; if both are given they must agree."""
    has_index = record.get("gold_index") is not None
    has_answer = record.get("answer") is not None
    if not has_index and not has_answer:
        raise DatasetError(where, "missing field 'gold_index' (or 'answer')", line=line, field="gold_index")
    index = require_gold_index(record, len(options), where=where, line=line) if has_index else None
    if not has_answer:
        assert index is not None
        return index
    from_answer = _answer_index(record["answer"], options, where=where, line=line)
    if index is not None and index != from_answer:
        raise DatasetError(
            where, f"fields 'gold_index' ({index}) and 'answer' ({from_answer}) disagree", line=line, field="answer"
        )
    return from_answer


def _answer_index(answer: Any, options: list[str], *, where: Path, line: int) -> int:
    """``answer`` as a letter (``"B"`` → 1) or as an option's text; ambiguity is an error."""
    if not isinstance(answer, str):
        raise DatasetError(
            where, f"field 'answer' must be a letter or an option's text, got {_json_type(answer)}",
            line=line, field="answer",
        )
    wanted = answer.strip()
    letters = LETTERS[: len(options)]
    by_letter = letters.index(wanted) if len(wanted) == 1 and wanted in letters else None
    by_text = [i for i, o in enumerate(options) if o.strip() == wanted]
    if len(by_text) > 1:
        raise DatasetError(where, f"field 'answer' {answer!r} matches several options", line=line, field="answer")
    if by_letter is not None and by_text and by_text[0] != by_letter:
        raise DatasetError(
            where, f"field 'answer' {answer!r} is ambiguous: a letter and another option's text",
            line=line, field="answer",
        )
    if by_letter is not None:
        return by_letter
    if by_text:
        return by_text[0]
    raise DatasetError(
        where, f"field 'answer' {_short(answer)!r} is neither a letter {letters[0]}..{letters[-1]} nor an option's text",
        line=line, field="answer",
    )


def _context(record: dict[str, Any], *, where: Path, line: int) -> str:
    """The hidden passage under any accepted name. Two names at once is an error rather than a
    guess: the loser would land in ``source``, where a passage must never travel."""
    given = [f for f in CONTEXT_FIELDS if record.get(f) is not None]
    if len(given) > 1:
        raise DatasetError(
            where, f"fields {' and '.join(repr(f) for f in given)} both given; use one", line=line, field=given[1]
        )
    if not given:
        return ""
    return require_str(record, given[0], where=where, line=line)


def _json_type(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
