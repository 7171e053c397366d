"""A judge that reasons in text and then states its answer (for chat and instruction models)."""

from __future__ import annotations

from collections.abc import Sequence

from debate.core.question import JudgeView
from debate.core.transcript import ParseStatus, Turn, Verdict
from debate.experts.backend import Backend, GenerateRequest
from debate.judges.parse import parse_answer
from debate.judges.prompts import question_prompt, reasoning_prompt


class GenerativeJudge:
    kind = "generative"

    def __init__(self, backend: Backend, *, max_tokens: int = 256, question_tokens: int = 48) -> None:
        self.backend = backend
        self.name = backend.name
        self.max_tokens = max_tokens
        self.question_tokens = question_tokens

    async def judge(self, view: JudgeView, transcript: Sequence[Turn]) -> Verdict:
        gen = await self.backend.generate(
            GenerateRequest(prompt=reasoning_prompt(view, transcript), max_tokens=self.max_tokens, role="judge")
        )
        parsed = parse_answer(gen.text, view.options, view.letters)
        if parsed.status is not ParseStatus.OK or parsed.index is None:
            return Verdict(chosen=None, raw=gen.text, status=parsed.status, judge_model=self.name, judge_kind=self.kind)
        probs = None
        if parsed.confidence is not None and len(view.options) == 2:
            c = min(max(parsed.confidence, 0.0), 1.0)
            probs = [c if i == parsed.index else 1 - c for i in range(2)]
        return Verdict(
            chosen=parsed.index, probabilities=probs, raw=gen.text, confidence=parsed.confidence,
            judge_model=self.name, judge_kind=self.kind,
        )

    async def ask(self, view: JudgeView, transcript: Sequence[Turn]) -> str:
        gen = await self.backend.generate(
            GenerateRequest(prompt=question_prompt(view, transcript), max_tokens=self.question_tokens, stop=["\n"], role="judge")
        )
        return gen.text.strip()
