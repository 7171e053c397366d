"""Questions, and the judge's view of them.

The judge must never see the hidden passage. That rule lives in the types: ``JudgeView`` has
no field that could hold the passage, forbids extra fields, and is the only question type the
judge layer accepts.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

LETTERS = "ABCDEFGHIJ"


class Question(BaseModel):
    """A multiple-choice question with its hidden context (the passage only experts read)."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1)
    question: str = Field(min_length=1)
    options: tuple[str, ...]
    gold_index: int
    context: str = ""
    """The hidden passage. Experts see it; judges never do."""
    title: str | None = None
    source: dict[str, Any] = Field(default_factory=dict)
    """Where the question came from (dataset, file, line, article id, licence)."""

    @field_validator("options")
    @classmethod
    def _two_or_more(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(v) < 2 or len(v) > len(LETTERS):
            raise ValueError(f"needs 2 to {len(LETTERS)} options, got {len(v)}")
        if any(not o.strip() for o in v):
            raise ValueError("an option is empty")
        return tuple(o.strip() for o in v)

    @model_validator(mode="after")
    def _gold_in_range(self) -> "Question":
        if not 0 <= self.gold_index < len(self.options):
            raise ValueError(f"gold_index {self.gold_index} is out of range for {len(self.options)} options")
        return self

    def judge_view(self, order: tuple[int, ...] | None = None) -> "JudgeView":
        """The question as the judge may see it, options shown in ``order``."""
        order = order or tuple(range(len(self.options)))
        return JudgeView(id=self.id, question=self.question, options=tuple(self.options[i] for i in order),
                         closed_book=not self.context)

    @property
    def context_hash(self) -> str:
        return hashlib.sha256(self.context.encode()).hexdigest()[:16]


class JudgeView(BaseModel):
    """What a judge is allowed to know: the question and the options in display order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    question: str
    options: tuple[str, ...]
    closed_book: bool = False
    """True when the question has no hidden passage (MMLU-style): the judge is told so, and
    learns nothing else about the passage (there is none)."""

    def letter(self, shown_index: int) -> str:
        return LETTERS[shown_index]

    @property
    def letters(self) -> tuple[str, ...]:
        return tuple(LETTERS[i] for i in range(len(self.options)))
