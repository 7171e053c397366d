"""Turns, verdicts and parse statuses: what an episode produces."""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import BaseModel, Field


class Role(str, Enum):
    JUDGE = "judge"
    EXPERT = "expert"  # a single expert: consultant, oracle
    DEBATER_A = "debater_a"
    DEBATER_B = "debater_b"
    ROUTER = "router"  # not a model seat: who recorded a routing decision (routed protocols)


class Kind(str, Enum):
    """What a turn is: a speech, a direct answer, a judge question, a verdict, or a routing
    decision (which experts a routed protocol chose; never shown to the judge)."""

    SPEECH = "speech"
    ANSWER = "answer"
    JUDGE_QUESTION = "judge_question"
    VERDICT = "verdict"
    ROUTING = "routing"


class QuoteCheck(BaseModel):
    text: str
    verified: bool


class Turn(BaseModel):
    """One contribution to a transcript. ``visible_to_judge`` marks text the judge may read."""

    index: int
    round: int
    role: Role
    kind: Kind
    text: str
    argues_for: int | None = None
    """Underlying option index this speaker argues for (not the shown letter)."""
    argues_for_letter: str | None = None
    """The letter the judge saw for that option in this episode's display order."""
    quotes: list[QuoteCheck] = Field(default_factory=list)
    visible_to_judge: bool = True
    meta: dict[str, Any] = Field(default_factory=dict)

    @property
    def n_verified(self) -> int:
        return sum(q.verified for q in self.quotes)

    @property
    def n_unverified(self) -> int:
        return sum(not q.verified for q in self.quotes)


class ParseStatus(str, Enum):
    OK = "ok"
    UNPARSEABLE = "unparseable"
    AMBIGUOUS = "ambiguous"
    EMPTY = "empty"
    ERROR = "error"


class Verdict(BaseModel):
    """A judge's decision, mapped back to underlying option indices."""

    chosen: int | None
    """Underlying option index, or None when the reply could not be parsed (counts as wrong)."""
    probabilities: list[float] | None = None
    """Probability per underlying option (same order as ``Question.options``)."""
    raw: str = ""
    status: ParseStatus = ParseStatus.OK
    confidence: float | None = None
    judge_model: str = ""
    judge_kind: str = ""

    def correct(self, gold_index: int) -> bool:
        return self.status is ParseStatus.OK and self.chosen == gold_index

    def unshuffle(self, order: tuple[int, ...]) -> "Verdict":
        """Map a verdict over *shown* options (``order[k]`` shown as letter k) back to the
        underlying options, so scoring never depends on display order."""
        probs = None
        if self.probabilities is not None:
            probs = [0.0] * len(order)
            for k, p in enumerate(self.probabilities):
                probs[order[k]] = p
        ok = self.chosen is not None and self.status is ParseStatus.OK
        return self.model_copy(update={"chosen": order[self.chosen] if ok else None, "probabilities": probs})
