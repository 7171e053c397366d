"""Fixtures for storage tests: a real SQLite file per test, and small real questions/specs."""

from __future__ import annotations

from pathlib import Path

import pytest

from debate.core import EpisodeSpec, Question, RoleAssignment
from debate.storage import Database, DatabaseWriter, open_database

PASSAGE = "The lighthouse keeper, Mara, counted ships every night for eleven years."
ROLES = RoleAssignment(models={"judge": "tiny-judge", "debater_a": "big-expert", "debater_b": "big-expert"})


def _make_question(qid: str, gold: int = 1, context: str = PASSAGE) -> Question:
    return Question(
        id=qid,
        question=f"How long did Mara count ships? ({qid})",
        options=("Five years", "Eleven years", "Twenty years"),
        gold_index=gold,
        context=context,
        title="The Lighthouse",
        source={"dataset": "unit-test", "line": 3},
    )


def _make_spec(run_id: str, qid: str, protocol: str = "debate", seed: int = 0, **params: object) -> EpisodeSpec:
    return EpisodeSpec(
        run_id=run_id, question_id=qid, protocol=protocol, params=dict(params), roles=ROLES, seed=seed, order=(2, 0, 1)
    )


@pytest.fixture
def make_question():
    """``make_question(qid, gold=1, context=PASSAGE) -> Question``."""
    return _make_question


@pytest.fixture
def make_spec():
    """``make_spec(run_id, qid, protocol="debate", seed=0, **params) -> EpisodeSpec``."""
    return _make_spec


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "runs" / "exp.db"


@pytest.fixture
def db(db_path: Path):
    database = open_database(db_path)
    yield database
    database.close()


@pytest.fixture
async def writer(db: Database):
    async with DatabaseWriter(db) as w:
        yield w
