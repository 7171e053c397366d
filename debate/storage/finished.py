"""Bulk writes of transcripts that already happened (imports such as the NYU human debates).

``DatabaseWriter`` commits every turn as it happens, which is what a live run needs and what
makes an import of ~1,000 finished episodes take minutes. Here each new episode row is inserted
already finished, with its turns and verdicts flushed together, in transactions of ``chunk``
episodes: the same rows the writer's put/start/add/finish sequence leaves, in seconds.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session

from debate.core import EpisodeSpec, EpisodeStatus, Question, Turn, Verdict
from debate.storage import ops
from debate.storage.database import Database, open_database
from debate.storage.tables import EpisodeRow, TurnRow, VerdictRow, dumps, question_uid, utcnow

_FINISHED = (EpisodeStatus.COMPLETE, EpisodeStatus.ERROR)


@dataclass
class FinishedEpisode:
    spec: EpisodeSpec
    question: Question
    events: list[Turn | tuple[Verdict, bool]] = field(default_factory=list)
    """Turns and (verdict, is_final) pairs, in the order they happened."""
    final: Verdict | None = None
    error: str | None = None
    """Set for an episode that ended without a verdict (stored with status error)."""

    @property
    def status(self) -> EpisodeStatus:
        if self.final is not None:
            return EpisodeStatus.COMPLETE
        return EpisodeStatus.ERROR if self.error is not None else EpisodeStatus.RUNNING


@dataclass
class FinishedRun:
    run_id: str
    config_json: str
    config_hash: str
    episodes: list[FinishedEpisode]


def write_finished_runs(db_path: str | Path, runs: list[FinishedRun], *, chunk: int = 100) -> tuple[int, int]:
    """Write the runs; episodes already finished in the DB are skipped (imports resume).
    Returns (episodes written, episodes skipped)."""
    written = skipped = 0
    db = open_database(db_path)
    try:
        for run in runs:
            _transaction(db, functools.partial(ops.put_run, run_id=run.run_id, name=run.run_id,
                                               config_json=run.config_json, config_hash=run.config_hash))
        for run in runs:
            status = db.episode_status(run.run_id)
            todo = []
            for ep in run.episodes:
                if status.get(ep.spec.id) in _FINISHED:
                    skipped += 1
                else:
                    todo.append((ep, ep.spec.id in status))
            for i in range(0, len(todo), chunk):
                _transaction(db, functools.partial(_write_chunk, todo=todo[i : i + chunk]))
            written += len(todo)
            unfinished = any(ep.status is EpisodeStatus.RUNNING for ep in run.episodes)
            _transaction(db, functools.partial(ops.set_run_status, run_id=run.run_id,
                                               status="incomplete" if unfinished else "complete"))
    finally:
        db.close()
    return written, skipped


def _transaction(db: Database, op: Callable[[Session], Any]) -> Any:
    """One ``BEGIN IMMEDIATE`` transaction on the writer engine, as ``DatabaseWriter`` runs its items."""
    with Session(db.write_engine, expire_on_commit=False) as session:
        result = op(session)
        session.commit()
        return result


def _write_chunk(s: Session, *, todo: list[tuple[FinishedEpisode, bool]]) -> None:
    ops.put_questions(s, [ep.question for ep, _ in todo])
    s.flush()  # foreign keys without ORM relationships: parents go in first
    now = utcnow()
    episodes: list[EpisodeRow] = []
    for ep, exists in todo:
        if exists:  # unfinished from an earlier write: clear it, then finish it in place
            ops.start_episode(s, ep.spec.id)
            if ep.status is not EpisodeStatus.RUNNING:
                ops.finish_episode(s, ep.spec.id, ep.status, error=ep.error, verdict=ep.final,
                                   gold_index=ep.question.gold_index)
        else:
            episodes.append(_episode_row(ep, now))
    s.add_all(episodes)
    s.flush()
    rows: list[TurnRow | VerdictRow] = []
    for ep, _ in todo:
        for event in ep.events:
            if isinstance(event, Turn):
                rows.append(TurnRow.from_turn(ep.spec.id, event))
            else:
                verdict, final = event
                rows.append(VerdictRow.from_verdict(ep.spec.id, verdict, ep.question.gold_index, final))
    s.add_all(rows)


def _episode_row(ep: FinishedEpisode, now: datetime) -> EpisodeRow:
    """The row ``put_episodes`` would insert, as ``start_episode`` and ``finish_episode`` leave it."""
    spec, verdict, status = ep.spec, ep.final, ep.status
    return EpisodeRow(
        id=spec.id, run_id=spec.run_id, question_uid=question_uid(ep.question), protocol=spec.protocol,
        variant=spec.variant, params_json=dumps(spec.params), order_json=dumps(list(spec.order)),
        roles_json=dumps(spec.roles.models), seed=spec.seed, status=status.value, error=ep.error, attempt=1,
        started_at=now, finished_at=None if status is EpisodeStatus.RUNNING else now,
        chosen=None if verdict is None else verdict.chosen,
        correct=None if verdict is None else verdict.correct(ep.question.gold_index),
        judge_model=None if verdict is None else verdict.judge_model,
        parse_status=None if verdict is None else verdict.status.value,
    )
