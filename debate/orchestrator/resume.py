"""Resuming safely: a run name stands for one config *and* one set of questions.

The stored hash covers the config and the content of every question (text, options, gold,
passage), so editing the dataset file and re-running the same name is refused instead of
scoring old transcripts against new gold labels.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from debate.config import ConfigError, RunConfig
from debate.core.question import Question

def questions_digest(questions: list[Question]) -> str:
    h = hashlib.sha256()
    for q in questions:
        h.update(q.model_dump_json().encode())
    return h.hexdigest()


def run_fingerprint(config: RunConfig, questions: list[Question]) -> str:
    return hashlib.sha256(f"{config.hash}:{questions_digest(questions)}".encode()).hexdigest()[:16]


def check_resumable(config: RunConfig, questions: list[Question]) -> None:
    """Raise a one-line ``ConfigError`` naming what changed if ``config.name`` exists in the
    database with other settings or other questions. Reads only."""
    path = Path(config.db)
    if not path.is_file():
        return
    from debate.storage import open_database

    db = open_database(path)
    try:
        row = db.run(config.name)
    finally:
        db.close()
    if row is None or row.config_hash == run_fingerprint(config, questions):
        return
    try:
        old = RunConfig.model_validate_json(row.config_json).results_view()
    except ValueError:  # written by another tool (e.g. an importer): compare what is there
        old = json.loads(row.config_json)
    new = config.results_view()
    changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    what = f"settings ({', '.join(changed)})" if changed else "questions (the dataset's content changed)"
    raise ConfigError(
        f"run {config.name!r} in {config.db} was made with different {what}; "
        "re-run with the original settings to resume it, or pass --name to start a new run"
    )
