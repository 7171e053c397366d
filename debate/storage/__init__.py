"""Storage: the only code that touches SQL. Runs, questions, episodes, turns, model calls and
verdicts live in one SQLite file; ``DatabaseWriter`` is its single writer, ``Database`` its reads."""

from debate.storage.database import Database, Outcome, open_database
from debate.storage.errors import ConfigMismatchError, StorageError
from debate.storage.tables import (
    EpisodeRow,
    ModelCallRow,
    PassageRow,
    QuestionRow,
    RunRow,
    TurnRow,
    VerdictRow,
    question_uid,
)
from debate.storage.writer import DatabaseWriter

__all__ = [
    "ConfigMismatchError",
    "Database",
    "DatabaseWriter",
    "EpisodeRow",
    "ModelCallRow",
    "Outcome",
    "PassageRow",
    "QuestionRow",
    "RunRow",
    "StorageError",
    "TurnRow",
    "VerdictRow",
    "open_database",
    "question_uid",
]
