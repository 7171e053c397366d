"""Opening a debate database, and every read anything above storage needs.

Reads are synchronous and return detached rows or core types; they never block the writer
(WAL), so the viewer and reports can read a database while a run is still writing it.
Writes go through ``DatabaseWriter`` only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Engine, func, literal_column
from sqlalchemy.exc import DatabaseError
from sqlmodel import Session, SQLModel, col, select

from debate.core import EpisodeStatus, ParseStatus, Question, Role
from debate.storage.engine import APPLICATION_ID, SCHEMA_VERSION, check_file, check_identity, make_engine
from debate.storage.migrations import migrate
from debate.storage.errors import StorageError
from debate.storage.tables import (
    EpisodeRow,
    ModelCallRow,
    PassageRow,
    QuestionRow,
    RunRow,
    TurnRow,
    VerdictRow,
)


_EPISODE_ROWID = literal_column("episodes.rowid")
"""Insertion order: episodes come back in the order the run created them."""


class Outcome(BaseModel):
    """One episode as a report sees it: who took part, how it ended, and whether the deciding
    verdict was right. Built from the episode row and its final verdict."""

    episode_id: str
    run_id: str
    question_uid: str
    protocol: str
    variant: str
    judge_model: str
    """The final verdict's judge model; for episodes without one, the run's judge role."""
    expert_models: str
    """Non-judge roles as sorted ``role=model`` pairs joined by ``,`` (``""`` for judge-only)."""
    status: EpisodeStatus
    parse_status: ParseStatus | None
    """Status of the deciding verdict; None when there is none (pending, error)."""
    chosen: int | None
    correct: bool | None
    gold_index: int
    order_json: str

    @property
    def question_key(self) -> str:
        """The question across versions and copies (the uid without its content hash): statistics
        cluster by it, so e.g. the NYU rooms that asked one question count as one question."""
        return self.question_uid.rsplit(":", 1)[0]


class Database:
    """A debate database on disk. Use ``open_database`` to get one."""

    def __init__(self, path: Path, engine: Engine, write_engine: Engine) -> None:
        self.path = path
        self.engine = engine
        """For reads: SQLite's default (deferred) transactions."""
        self.write_engine = write_engine
        """For ``DatabaseWriter`` only: every transaction starts ``BEGIN IMMEDIATE``."""

    def __repr__(self) -> str:
        return f"Database({str(self.path)!r})"

    def close(self) -> None:
        self.engine.dispose()
        self.write_engine.dispose()

    def __enter__(self) -> "Database":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # -- runs ---------------------------------------------------------------------------------

    def runs(self) -> list[RunRow]:
        with self._session() as s:
            return list(s.exec(select(RunRow).order_by(col(RunRow.created_at))))

    def run(self, run_id: str) -> RunRow | None:
        with self._session() as s:
            return s.get(RunRow, run_id)

    # -- episodes -----------------------------------------------------------------------------

    def episodes(self, run_id: str | None = None, status: EpisodeStatus | None = None) -> list[EpisodeRow]:
        q = select(EpisodeRow)
        if run_id is not None:
            q = q.where(EpisodeRow.run_id == run_id)
        if status is not None:
            q = q.where(EpisodeRow.status == EpisodeStatus(status).value)
        with self._session() as s:
            return list(s.exec(q.order_by(_EPISODE_ROWID)))

    def episode(self, episode_id: str) -> EpisodeRow | None:
        with self._session() as s:
            return s.get(EpisodeRow, episode_id)

    def episode_status(self, run_id: str) -> dict[str, EpisodeStatus]:
        """Episode id -> status: what a resuming run checks to skip finished work."""
        q = select(EpisodeRow.id, EpisodeRow.status).where(EpisodeRow.run_id == run_id)
        with self._session() as s:
            return {eid: EpisodeStatus(st) for eid, st in s.exec(q)}

    # -- transcripts --------------------------------------------------------------------------

    def turns(self, episode_id: str) -> list[TurnRow]:
        """In transcript order. ``[r.to_turn() for r in db.turns(eid)]`` gives core ``Turn``s."""
        q = select(TurnRow).where(TurnRow.episode_id == episode_id).order_by(col(TurnRow.idx), col(TurnRow.id))
        with self._session() as s:
            return list(s.exec(q))

    def calls(self, episode_id: str | None = None, run_id: str | None = None) -> list[ModelCallRow]:
        q = select(ModelCallRow)
        if episode_id is not None:
            q = q.where(ModelCallRow.episode_id == episode_id)
        if run_id is not None:
            q = q.where(ModelCallRow.run_id == run_id)
        with self._session() as s:
            return list(s.exec(q.order_by(col(ModelCallRow.id))))

    def verdicts(self, episode_id: str) -> list[VerdictRow]:
        """Oldest first; the one with ``is_final`` decided the episode."""
        q = select(VerdictRow).where(VerdictRow.episode_id == episode_id).order_by(col(VerdictRow.id))
        with self._session() as s:
            return list(s.exec(q))

    # -- questions ----------------------------------------------------------------------------

    def question(self, uid: str) -> Question | None:
        """The full question, passage included (the passage lives in its own table)."""
        with self._session() as s:
            row = s.get(QuestionRow, uid)
            if row is None:
                return None
            passage = s.get(PassageRow, row.passage_hash)
        return row.to_question(passage.text if passage else "")

    def passage(self, hash: str) -> str | None:
        with self._session() as s:
            row = s.get(PassageRow, hash)
        return None if row is None else row.text

    # -- summaries ----------------------------------------------------------------------------

    def counts(self, run_id: str) -> dict[str, Any]:
        """Progress and spend of a run: episodes by status, rows written, tokens, cost."""
        ep_ids = select(EpisodeRow.id).where(EpisodeRow.run_id == run_id)
        with self._session() as s:
            by_status = dict(
                s.exec(
                    select(EpisodeRow.status, func.count())
                    .where(EpisodeRow.run_id == run_id)
                    .group_by(EpisodeRow.status)
                ).all()
            )
            n_turns = s.exec(select(func.count()).where(col(TurnRow.episode_id).in_(ep_ids))).one()
            n_verdicts = s.exec(select(func.count()).where(col(VerdictRow.episode_id).in_(ep_ids))).one()
            n_calls, p_tok, c_tok, cost = s.exec(
                select(
                    func.count(),
                    func.coalesce(func.sum(ModelCallRow.prompt_tokens), 0),
                    func.coalesce(func.sum(ModelCallRow.completion_tokens), 0),
                    func.coalesce(func.sum(ModelCallRow.cost_usd), 0.0),
                ).where(ModelCallRow.run_id == run_id)
            ).one()
        episodes = {st.value: int(by_status.get(st.value, 0)) for st in EpisodeStatus}
        return {
            "episodes": episodes,
            "episodes_total": sum(episodes.values()),
            "turns": int(n_turns),
            "calls": int(n_calls),
            "verdicts": int(n_verdicts),
            "prompt_tokens": int(p_tok),
            "completion_tokens": int(c_tok),
            "total_tokens": int(p_tok) + int(c_tok),
            "cost_usd": float(cost),
        }

    def outcomes(self, run_id: str | None = None, judged_by: str | None = None) -> list[Outcome]:
        """One ``Outcome`` per episode (of ``run_id``, or of every run), in insertion order.

        By default the episode's final verdict decides; with ``judged_by`` the latest verdict of
        that judge model does (re-judging), and episodes it has not judged are left out.
        """
        q = select(EpisodeRow, QuestionRow.gold_index).join(
            QuestionRow, col(QuestionRow.uid) == col(EpisodeRow.question_uid)
        )
        if judged_by is None:
            finals = select(VerdictRow).where(col(VerdictRow.is_final).is_(True))
        else:
            finals = select(VerdictRow).where(VerdictRow.judge_model == judged_by)
        if run_id is not None:
            q = q.where(EpisodeRow.run_id == run_id)
            ep_ids = select(EpisodeRow.id).where(EpisodeRow.run_id == run_id)
            finals = finals.where(col(VerdictRow.episode_id).in_(ep_ids))
        with self._session() as s:
            rows = s.exec(q.order_by(_EPISODE_ROWID)).all()
            final: dict[str, VerdictRow] = {v.episode_id: v for v in s.exec(finals.order_by(col(VerdictRow.id)))}
        if judged_by is not None:
            return [_outcome(ep, gold, final[ep.id]) for ep, gold in rows if ep.id in final]
        return [_outcome(ep, gold, final.get(ep.id)) for ep, gold in rows]

    def verdict_judges(self, run_id: str) -> dict[str, int]:
        """Judge model -> number of verdicts in the run (the original judge and any re-judges)."""
        ep_ids = select(EpisodeRow.id).where(EpisodeRow.run_id == run_id)
        q = select(VerdictRow.judge_model).where(col(VerdictRow.episode_id).in_(ep_ids))
        out: dict[str, int] = {}
        with self._session() as s:
            for judge in s.exec(q):
                out[judge] = out.get(judge, 0) + 1
        return out


def _outcome(ep: EpisodeRow, gold_index: int, verdict: VerdictRow | None) -> Outcome:
    roles: dict[str, str] = json.loads(ep.roles_json)
    experts = ",".join(sorted(f"{r}={m}" for r, m in roles.items() if r != Role.JUDGE.value))
    if verdict is not None:
        chosen, correct, parse, judge = verdict.chosen, verdict.correct, verdict.status, verdict.judge_model
    else:
        chosen, correct, parse, judge = ep.chosen, ep.correct, ep.parse_status, ep.judge_model
    return Outcome(
        episode_id=ep.id,
        run_id=ep.run_id,
        question_uid=ep.question_uid,
        protocol=ep.protocol,
        variant=ep.variant,
        judge_model=judge or roles.get(Role.JUDGE.value, ""),
        expert_models=experts,
        status=EpisodeStatus(ep.status),
        parse_status=None if parse is None else ParseStatus(parse),
        chosen=chosen,
        correct=correct,
        gold_index=gold_index,
        order_json=ep.order_json,
    )


def open_database(path: str | Path) -> Database:
    """Open (creating if needed, parent folders included) the debate database at ``path``."""
    path = Path(path).expanduser()
    check_file(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    check_identity(path)
    engine = make_engine(path, immediate=False)
    write_engine = make_engine(path, immediate=True)
    try:
        with write_engine.begin() as conn:
            SQLModel.metadata.create_all(conn, tables=[t.__table__ for t in _TABLES])  # type: ignore[attr-defined]
            conn.exec_driver_sql(f"PRAGMA application_id={APPLICATION_ID}")
            version = conn.exec_driver_sql("PRAGMA user_version").scalar() or 0
            if version == 0:
                conn.exec_driver_sql(f"PRAGMA user_version={SCHEMA_VERSION}")
            elif version < SCHEMA_VERSION:
                migrate(conn, version)
    except DatabaseError as e:
        engine.dispose()
        write_engine.dispose()
        raise StorageError(f"{path} is not a debate database ({e.orig or e})") from e
    return Database(path, engine, write_engine)


_TABLES = (RunRow, PassageRow, QuestionRow, EpisodeRow, TurnRow, ModelCallRow, VerdictRow)
__all__ = ["Database", "Outcome", "open_database"]
