"""Reads for the statistical analysis (calibration, debater win rates, quote rates).

They live here, not in ``debate.report``, because storage is the only package that touches SQL.
Each read returns plain pydantic rows joined with the question's gold index, so the analysis
above never needs the schema. Only *complete* episodes are returned: the analysis follows the
accuracy table's counting rules, in which errored and unfinished episodes are not judged.
"""

from __future__ import annotations

import json

from pydantic import BaseModel
from typing import Any

from sqlalchemy import ColumnClause, func, literal_column
from sqlmodel import Session, col, select

from debate.core import EpisodeStatus, Kind, ParseStatus, Role
from debate.storage.database import Database
from debate.storage.tables import EpisodeRow, ModelCallRow, QuestionRow, TurnRow, VerdictRow

_EPISODE_ROWID: ColumnClause[object] = literal_column("episodes.rowid")
"""Insertion order: episodes come back in the order the run created them."""


class FinalVerdictProbability(BaseModel):
    """The deciding verdict of one complete episode, with what calibration needs."""

    episode_id: str
    run_id: str
    question_uid: str
    protocol: str
    variant: str
    judge_model: str
    judge_kind: str
    status: ParseStatus
    chosen: int | None
    """Underlying option index; None when the verdict did not parse."""
    probabilities: list[float] | None
    """Probability per underlying option (the order of ``Question.options``); None when the
    judge gave none (a generative judge without a stated confidence, or a parse failure)."""
    confidence: float | None
    gold_index: int
    order_json: str


class SpeechTurnRow(BaseModel):
    """One expert speech of a complete episode: who spoke, for which option, how it quoted."""

    episode_id: str
    run_id: str
    question_uid: str
    protocol: str
    variant: str
    role: str
    model: str
    """The model playing ``role`` in this episode (from the episode's role map; a routed
    protocol's seats all play its ``expert`` model), ``@adapter`` added for a LoRA expert."""
    round: int
    argues_for: int
    gold_index: int
    n_verified: int
    n_unverified: int

    @property
    def for_gold(self) -> bool:
        return self.argues_for == self.gold_index


def final_verdict_probabilities(db: Database, run_id: str | None = None) -> list[FinalVerdictProbability]:
    """The final verdict of every complete episode (of ``run_id``, or of every run), in the
    order the run created the episodes."""
    q = (
        select(EpisodeRow, VerdictRow, QuestionRow.gold_index)
        .join(VerdictRow, col(VerdictRow.episode_id) == col(EpisodeRow.id))
        .join(QuestionRow, col(QuestionRow.uid) == col(EpisodeRow.question_uid))
        .where(col(VerdictRow.is_final).is_(True))
        .where(EpisodeRow.status == EpisodeStatus.COMPLETE.value)
    )
    if run_id is not None:
        q = q.where(EpisodeRow.run_id == run_id)
    with Session(db.engine) as s:
        rows = s.exec(q.order_by(_EPISODE_ROWID, col(VerdictRow.id))).all()
        out: dict[str, FinalVerdictProbability] = {}
        for ep, v, gold in rows:
            # Should an episode hold two final verdicts, the latest decides (as in Database.outcomes).
            out[ep.id] = FinalVerdictProbability(
                episode_id=ep.id, run_id=ep.run_id, question_uid=ep.question_uid, protocol=ep.protocol,
                variant=ep.variant, judge_model=v.judge_model or ep.roles.get("judge", ""), judge_kind=v.judge_kind,
                status=ParseStatus(v.status), chosen=v.chosen,
                probabilities=None if v.probabilities_json is None else [float(p) for p in json.loads(v.probabilities_json)],
                confidence=v.confidence, gold_index=gold, order_json=ep.order_json,
            )
    return list(out.values())


def speech_turns(db: Database, run_id: str | None = None) -> list[SpeechTurnRow]:
    """Every speech that argued for an option, in complete episodes, in episode then transcript
    order. Direct answers and judge questions are not speeches and are left out."""
    q = (
        select(TurnRow, EpisodeRow, QuestionRow.gold_index)
        .join(EpisodeRow, col(EpisodeRow.id) == col(TurnRow.episode_id))
        .join(QuestionRow, col(QuestionRow.uid) == col(EpisodeRow.question_uid))
        .where(TurnRow.kind == Kind.SPEECH.value)
        .where(col(TurnRow.argues_for).is_not(None))
        .where(EpisodeRow.status == EpisodeStatus.COMPLETE.value)
    )
    if run_id is not None:
        q = q.where(EpisodeRow.run_id == run_id)
    with Session(db.engine) as s:
        rows = s.exec(q.order_by(_EPISODE_ROWID, col(TurnRow.idx), col(TurnRow.id))).all()
        out = []
        for t, ep, gold in rows:
            assert t.argues_for is not None  # filtered in SQL
            roles = ep.roles
            model = roles.get(t.role) or roles.get(Role.EXPERT.value, "")
            adapter = json.loads(t.meta_json).get("adapter")
            out.append(SpeechTurnRow(
                episode_id=ep.id, run_id=ep.run_id, question_uid=ep.question_uid, protocol=ep.protocol,
                variant=ep.variant, role=t.role, model=f"{model}@{adapter}" if adapter else model, round=t.round,
                argues_for=t.argues_for, gold_index=gold, n_verified=t.n_verified, n_unverified=t.n_unverified,
            ))
        return out


class RoutingTurnRow(BaseModel):
    """The routing decision of one complete routed episode, with the question's domain."""

    episode_id: str
    run_id: str
    question_uid: str
    variant: str
    question_domain: str | None
    """``source["domain"]`` of the question; None for questions without one."""
    decision: dict[str, Any]
    """The stored ``RoutingDecision`` (router, k, scores, chosen, domains, …)."""
    path: str
    """null | consult | agree_consult | debate."""


def routing_turns(db: Database, run_id: str | None = None) -> list[RoutingTurnRow]:
    """Every routing decision in complete episodes (one per routed episode), in episode order."""
    q = (
        select(TurnRow, EpisodeRow, QuestionRow.source_json)
        .join(EpisodeRow, col(EpisodeRow.id) == col(TurnRow.episode_id))
        .join(QuestionRow, col(QuestionRow.uid) == col(EpisodeRow.question_uid))
        .where(TurnRow.kind == Kind.ROUTING.value)
        .where(EpisodeRow.status == EpisodeStatus.COMPLETE.value)
    )
    if run_id is not None:
        q = q.where(EpisodeRow.run_id == run_id)
    with Session(db.engine) as s:
        rows = s.exec(q.order_by(_EPISODE_ROWID, col(TurnRow.idx), col(TurnRow.id))).all()
    out = []
    for t, ep, source_json in rows:
        meta = json.loads(t.meta_json)
        domain = json.loads(source_json).get("domain")
        out.append(RoutingTurnRow(
            episode_id=ep.id, run_id=ep.run_id, question_uid=ep.question_uid, variant=ep.variant,
            question_domain=domain if isinstance(domain, str) else None, decision=meta.get("routing", {}),
            path=str(meta.get("path", "")),
        ))
    return out


class EpisodeComputeRow(BaseModel):
    """What one complete episode spent: its stored model calls and their tokens (routing's
    embedding pass included; call-cache hits count, as the strategy's compute)."""

    episode_id: str
    run_id: str
    variant: str
    calls: int
    prompt_tokens: int
    completion_tokens: int

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def episode_compute(db: Database, run_id: str | None = None) -> list[EpisodeComputeRow]:
    """Calls and tokens per complete episode (summed in SQL), in episode order."""
    q = (
        select(EpisodeRow.id, EpisodeRow.run_id, EpisodeRow.variant, func.count(col(ModelCallRow.id)),
               func.coalesce(func.sum(ModelCallRow.prompt_tokens), 0), func.coalesce(func.sum(ModelCallRow.completion_tokens), 0))
        .join(ModelCallRow, col(ModelCallRow.episode_id) == col(EpisodeRow.id), isouter=True)
        .where(EpisodeRow.status == EpisodeStatus.COMPLETE.value)
        .group_by(col(EpisodeRow.id))
    )
    if run_id is not None:
        q = q.where(EpisodeRow.run_id == run_id)
    with Session(db.engine) as s:
        rows = s.exec(q.order_by(_EPISODE_ROWID)).all()
    return [EpisodeComputeRow(episode_id=e, run_id=r, variant=v, calls=int(n), prompt_tokens=int(p), completion_tokens=int(c))
            for e, r, v, n, p, c in rows]


__all__ = [
    "EpisodeComputeRow", "FinalVerdictProbability", "RoutingTurnRow", "SpeechTurnRow", "episode_compute",
    "final_verdict_probabilities", "routing_turns", "speech_turns",
]
