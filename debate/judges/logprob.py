"""The default judge for local models: a probability over option letters, read from log-probs.

No text is generated, so there is nothing to misparse; the verdict is the letter with the
highest probability after renormalising over the options shown.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from debate.core.question import JudgeView
from debate.core.transcript import ParseStatus, Turn, Verdict
from debate.experts.backend import Backend, GenerateRequest, ScoreRequest
from debate.judges.prompts import question_prompt, verdict_prompt


class LogProbJudge:
    kind = "logprob"

    def __init__(self, backend: Backend, *, question_tokens: int = 48) -> None:
        self.backend = backend
        self.name = backend.name
        self.question_tokens = question_tokens

    async def judge(self, view: JudgeView, transcript: Sequence[Turn]) -> Verdict:
        prompt = verdict_prompt(view, transcript)
        scores = await self.backend.score(
            ScoreRequest(prompt=prompt, continuations=[f" {letter}" for letter in view.letters], role="judge")
        )
        probs = softmax(scores.logprobs)
        raw = " ".join(f"{letter}={lp:.4f}" for letter, lp in zip(view.letters, scores.logprobs))
        if probs is None:
            return Verdict(chosen=None, raw=raw, status=ParseStatus.ERROR, judge_model=self.name, judge_kind=self.kind)
        best = max(range(len(probs)), key=probs.__getitem__)
        return Verdict(chosen=best, probabilities=probs, raw=raw, judge_model=self.name, judge_kind=self.kind)

    async def ask(self, view: JudgeView, transcript: Sequence[Turn]) -> str:
        gen = await self.backend.generate(
            GenerateRequest(prompt=question_prompt(view, transcript), max_tokens=self.question_tokens, stop=["\n"], role="judge")
        )
        return gen.text.strip()


def softmax(logprobs: Sequence[float]) -> list[float] | None:
    """Renormalise log-probs over the options; None when no option has any probability."""
    finite = [lp for lp in logprobs if math.isfinite(lp)]
    if not finite:
        return None
    top = max(finite)
    weights = [math.exp(lp - top) if math.isfinite(lp) else 0.0 for lp in logprobs]
    total = sum(weights)
    return [w / total for w in weights]
