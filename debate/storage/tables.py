"""SQL tables. Every turn, model call and verdict is a row, so any result can be traced back to text.

JSON columns (``*_json``) hold structures SQL never filters on; columns that reports group or
filter by (run, status, protocol, variant, judge) are real columns, indexed where they are hot.
Rows convert back to core types (``to_turn``, ``to_verdict``, ``to_record``) so nothing above
this package needs to know the schema.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from debate.core import CallRecord, Kind, ParseStatus, Question, QuoteCheck, Role, Turn, Usage, Verdict


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def dumps(value: Any) -> str:
    """Canonical JSON: sorted keys, so equal values give equal text (and equal hashes)."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def question_uid(question: Question) -> str:
    """``id:hash`` of everything but the passage: two datasets reusing an id with different
    content get different rows, while re-loading the same question maps to the same row."""
    payload = dumps(question.model_dump(mode="json", exclude={"context"}))
    return f"{question.id}:{hashlib.sha256(payload.encode()).hexdigest()[:12]}"


def _text() -> Any:
    return Field(default="", sa_column=Column(Text, nullable=False))


def _text_or_none() -> Any:
    return Field(default=None, sa_column=Column(Text, nullable=True))


class RunRow(SQLModel, table=True):
    __tablename__ = "runs"

    id: str = Field(primary_key=True)
    name: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    config_json: str = _text()
    """The resolved config, so a run can be reproduced from the database alone."""
    config_hash: str
    status: str = "created"


class PassageRow(SQLModel, table=True):
    """A hidden passage, stored once however many questions share it (QuALITY: ~20 per article)."""

    __tablename__ = "passages"

    hash: str = Field(primary_key=True)
    text: str = _text()


class QuestionRow(SQLModel, table=True):
    __tablename__ = "questions"

    uid: str = Field(primary_key=True)
    id: str = Field(index=True)
    question: str = _text()
    options_json: str
    gold_index: int
    title: str | None = None
    source_json: str = "{}"
    passage_hash: str = Field(foreign_key="passages.hash")

    def to_question(self, context: str) -> Question:
        return Question(
            id=self.id,
            question=self.question,
            options=tuple(json.loads(self.options_json)),
            gold_index=self.gold_index,
            context=context,
            title=self.title,
            source=json.loads(self.source_json),
        )


class EpisodeRow(SQLModel, table=True):
    __tablename__ = "episodes"

    id: str = Field(primary_key=True)
    """``EpisodeSpec.id``: a hash of the spec, so a re-run finds the same episodes."""
    run_id: str = Field(foreign_key="runs.id", index=True)
    question_uid: str = Field(foreign_key="questions.uid", index=True)
    protocol: str
    variant: str
    params_json: str = "{}"
    order_json: str = "[]"
    roles_json: str = "{}"
    seed: int = 0
    status: str = Field(default="pending", index=True)
    error: str | None = _text_or_none()
    attempt: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    chosen: int | None = None
    """Underlying option index the deciding verdict chose (None: no verdict or unparseable)."""
    correct: bool | None = None
    judge_model: str | None = None
    parse_status: str | None = None

    @property
    def roles(self) -> dict[str, str]:
        return json.loads(self.roles_json)

    @property
    def order(self) -> tuple[int, ...]:
        return tuple(json.loads(self.order_json))


class TurnRow(SQLModel, table=True):
    __tablename__ = "turns"

    id: int | None = Field(default=None, primary_key=True)
    episode_id: str = Field(foreign_key="episodes.id", index=True)
    idx: int
    round: int
    role: str
    kind: str
    text: str = _text()
    argues_for: int | None = None
    argues_for_letter: str | None = None
    quotes_json: str = "[]"
    n_verified: int = 0
    n_unverified: int = 0
    visible_to_judge: bool = True
    meta_json: str = "{}"
    created_at: datetime = Field(default_factory=utcnow)

    @classmethod
    def from_turn(cls, episode_id: str, turn: Turn) -> "TurnRow":
        return cls(**turn_values(episode_id, turn))

    def to_turn(self) -> Turn:
        return Turn(
            index=self.idx,
            round=self.round,
            role=Role(self.role),
            kind=Kind(self.kind),
            text=self.text,
            argues_for=self.argues_for,
            argues_for_letter=self.argues_for_letter,
            quotes=[QuoteCheck.model_validate(q) for q in json.loads(self.quotes_json)],
            visible_to_judge=self.visible_to_judge,
            meta=json.loads(self.meta_json),
        )


class ModelCallRow(SQLModel, table=True):
    __tablename__ = "model_calls"

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="runs.id", index=True)
    episode_id: str | None = Field(default=None, foreign_key="episodes.id", index=True)
    model: str
    purpose: str
    role: str
    prompt: str = _text()
    reply: str = _text()
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    cost_usd: float = 0.0
    error: str | None = _text_or_none()
    params_json: str = "{}"
    created_at: datetime = Field(default_factory=utcnow)

    @classmethod
    def from_record(cls, run_id: str, episode_id: str | None, call: CallRecord) -> "ModelCallRow":
        return cls(**call_values(run_id, episode_id, call))

    def to_record(self) -> CallRecord:
        return CallRecord(
            model=self.model,
            purpose=self.purpose,
            role=self.role,
            prompt=self.prompt,
            reply=self.reply,
            usage=Usage(prompt_tokens=self.prompt_tokens, completion_tokens=self.completion_tokens),
            latency_s=self.latency_s,
            cost_usd=self.cost_usd,
            error=self.error,
            params=json.loads(self.params_json),
        )


class VerdictRow(SQLModel, table=True):
    """One judgement. An episode may collect several (per-round, re-judged); ``is_final`` marks
    the one that decides it."""

    __tablename__ = "verdicts"

    id: int | None = Field(default=None, primary_key=True)
    episode_id: str = Field(foreign_key="episodes.id", index=True)
    judge_model: str = ""
    judge_kind: str = ""
    chosen: int | None = None
    probabilities_json: str | None = None
    raw: str = _text()
    status: str = ParseStatus.OK.value
    confidence: float | None = None
    correct: bool = False
    is_final: bool = False
    created_at: datetime = Field(default_factory=utcnow)

    @classmethod
    def from_verdict(cls, episode_id: str, verdict: Verdict, gold_index: int, is_final: bool) -> "VerdictRow":
        return cls(
            episode_id=episode_id,
            judge_model=verdict.judge_model,
            judge_kind=verdict.judge_kind,
            chosen=verdict.chosen,
            probabilities_json=None if verdict.probabilities is None else dumps(verdict.probabilities),
            raw=verdict.raw,
            status=verdict.status.value,
            confidence=verdict.confidence,
            correct=verdict.correct(gold_index),
            is_final=is_final,
        )

    def to_verdict(self) -> Verdict:
        return Verdict(
            chosen=self.chosen,
            probabilities=None if self.probabilities_json is None else json.loads(self.probabilities_json),
            raw=self.raw,
            status=ParseStatus(self.status),
            confidence=self.confidence,
            judge_model=self.judge_model,
            judge_kind=self.judge_kind,
        )


# Column values of a new row, as plain dicts: the writer inserts many at once with one statement
# (no ORM object per row), and the ``from_*`` constructors build their rows from the same values.


def turn_values(episode_id: str, turn: Turn) -> dict[str, Any]:
    return {
        "episode_id": episode_id, "idx": turn.index, "round": turn.round, "role": turn.role.value, "kind": turn.kind.value,
        "text": turn.text, "argues_for": turn.argues_for, "argues_for_letter": turn.argues_for_letter,
        "quotes_json": dumps([q.model_dump(mode="json") for q in turn.quotes]), "n_verified": turn.n_verified,
        "n_unverified": turn.n_unverified, "visible_to_judge": turn.visible_to_judge, "meta_json": dumps(turn.meta),
        "created_at": utcnow(),
    }


def call_values(run_id: str, episode_id: str | None, call: CallRecord) -> dict[str, Any]:
    return {
        "run_id": run_id, "episode_id": episode_id, "model": call.model, "purpose": call.purpose, "role": call.role,
        "prompt": call.prompt, "reply": call.reply, "prompt_tokens": call.usage.prompt_tokens,
        "completion_tokens": call.usage.completion_tokens, "latency_s": call.latency_s, "cost_usd": call.cost_usd,
        "error": call.error, "params_json": dumps(call.params), "created_at": utcnow(),
    }
