"""The write transactions, as plain functions of a session.

``DatabaseWriter`` runs each one in a transaction on its own thread; keeping them here,
free of asyncio, keeps the SQL in one readable place. Every function is idempotent where a
resumed run may repeat it (runs, questions, episodes) and checks the ids it is given, so a
bug upstream fails loudly instead of writing orphans.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from sqlmodel import Session, col, delete, select, update

from debate.core import EpisodeSpec, EpisodeStatus, Question, Role, Verdict
from debate.storage.errors import ConfigMismatchError, StorageError
from debate.storage.tables import (
    EpisodeRow,
    ModelCallRow,
    PassageRow,
    QuestionRow,
    RunRow,
    TurnRow,
    VerdictRow,
    dumps,
    question_uid,
    utcnow,
)

_CHUNK = 500  # ids per ``IN (...)``: well under SQLite's bound-parameter limit
T = TypeVar("T")


def _chunks(items: Sequence[T], n: int = _CHUNK) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def _existing(s: Session, column: Any, keys: Sequence[str]) -> set[str]:
    """Which of ``keys`` are already stored in ``column`` (a primary key)."""
    found: set[str] = set()
    unique = list(dict.fromkeys(keys))
    for chunk in _chunks(unique):
        found.update(s.exec(select(column).where(column.in_(chunk))))
    return found


def _episode(s: Session, episode_id: str) -> EpisodeRow:
    ep = s.get(EpisodeRow, episode_id)
    if ep is None:
        raise StorageError(f"no episode {episode_id!r} in the database (put_episodes first)")
    return ep


def episode_run(s: Session, episode_id: str) -> str:
    """The run an episode belongs to; a missing episode raises ``StorageError``."""
    return _episode(s, episode_id).run_id


def put_run(s: Session, run_id: str, name: str, config_json: str, config_hash: str) -> None:
    row = s.get(RunRow, run_id)
    if row is None:
        s.add(RunRow(id=run_id, name=name, config_json=config_json, config_hash=config_hash))
    elif row.config_hash != config_hash:
        raise ConfigMismatchError(run_id, row.config_hash, config_hash)


def set_run_status(s: Session, run_id: str, status: str) -> None:
    row = s.get(RunRow, run_id)
    if row is None:
        raise StorageError(f"no run {run_id!r} in the database")
    row.status = status
    s.add(row)


def put_questions(s: Session, questions: Iterable[Question]) -> dict[str, str]:
    questions = list(questions)
    uids = {q.id: question_uid(q) for q in questions}
    have_q = _existing(s, col(QuestionRow.uid), [question_uid(q) for q in questions])
    have_p = _existing(s, col(PassageRow.hash), [q.context_hash for q in questions])
    for q in questions:
        h, uid = q.context_hash, question_uid(q)
        if h not in have_p:
            s.add(PassageRow(hash=h, text=q.context))
            have_p.add(h)
        if uid not in have_q:
            s.add(
                QuestionRow(
                    uid=uid,
                    id=q.id,
                    question=q.question,
                    options_json=dumps(list(q.options)),
                    gold_index=q.gold_index,
                    title=q.title,
                    source_json=dumps(q.source),
                    passage_hash=h,
                )
            )
            have_q.add(uid)
    return uids


def put_episodes(s: Session, specs: Sequence[EpisodeSpec], question_uids: dict[str, str]) -> int:
    """Insert the specs not yet stored, as pending. Returns how many were new."""
    missing = sorted({sp.question_id for sp in specs} - question_uids.keys())
    if missing:
        raise StorageError(f"no question uid for question ids {missing[:5]} (put_questions first)")
    by_id = {sp.id: sp for sp in specs}
    existing = _existing(s, col(EpisodeRow.id), list(by_id))
    new = [sp for eid, sp in by_id.items() if eid not in existing]
    for sp in new:
        s.add(
            EpisodeRow(
                id=sp.id,
                run_id=sp.run_id,
                question_uid=question_uids[sp.question_id],
                protocol=sp.protocol,
                variant=sp.variant,
                params_json=dumps(sp.params),
                order_json=dumps(list(sp.order)),
                roles_json=dumps(sp.roles.models),
                seed=sp.seed,
                status=EpisodeStatus.PENDING.value,
            )
        )
    return len(new)


def start_episode(s: Session, episode_id: str, redo: bool = False) -> int:
    """Clear what an earlier, unfinished attempt left and mark the episode running.
    Returns the attempt number (1 for the first)."""
    ep = _episode(s, episode_id)
    if ep.status == EpisodeStatus.COMPLETE.value and not redo:
        raise StorageError(f"episode {episode_id} is already complete; pass redo=True to run it again")
    for table in (VerdictRow, TurnRow, ModelCallRow):
        s.exec(delete(table).where(col(table.episode_id) == episode_id))  # type: ignore[attr-defined]
    ep.status = EpisodeStatus.RUNNING.value
    ep.attempt += 1
    ep.started_at = utcnow()
    ep.finished_at = None
    ep.error = None
    ep.chosen = ep.correct = ep.judge_model = ep.parse_status = None
    s.add(ep)
    return ep.attempt


def add_verdict(s: Session, episode_id: str, verdict: Verdict, gold_index: int, is_final: bool) -> int:
    """A new final verdict demotes any earlier final one: an episode has at most one."""
    _episode(s, episode_id)
    if is_final:
        s.exec(
            update(VerdictRow)
            .where(col(VerdictRow.episode_id) == episode_id, col(VerdictRow.is_final).is_(True))
            .values(is_final=False)
        )
    row = VerdictRow.from_verdict(episode_id, verdict, gold_index, is_final)
    s.add(row)
    s.flush()
    assert row.id is not None
    return row.id


def finish_episode(
    s: Session,
    episode_id: str,
    status: EpisodeStatus,
    error: str | None = None,
    verdict: Verdict | None = None,
    gold_index: int | None = None,
) -> None:
    ep = _episode(s, episode_id)
    ep.status = EpisodeStatus(status).value
    ep.finished_at = utcnow()
    ep.error = error
    if verdict is not None:
        if gold_index is None:
            q = s.get(QuestionRow, ep.question_uid)
            assert q is not None  # guaranteed by the foreign key
            gold_index = q.gold_index
        ep.chosen = verdict.chosen
        ep.correct = verdict.correct(gold_index)
        ep.judge_model = verdict.judge_model or json.loads(ep.roles_json).get(Role.JUDGE.value)
        ep.parse_status = verdict.status.value
    s.add(ep)
