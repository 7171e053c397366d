"""Best-of-N speeches (Khan et al. 2024): draft N speeches, keep the one a preference judge
likes most, i.e. the draft after which the judge gives the speaker's side the highest
probability. A stronger optimiser of persuasiveness, at N times the expert cost."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from debate.core.question import LETTERS, JudgeView
from debate.core.transcript import Turn
from debate.judges.base import Judge


async def best_of(judge: Judge, view: JudgeView, visible: Sequence[Turn], drafts: Sequence[Turn]) -> Turn:
    """The preferred draft, with every draft and its preference score in ``meta["candidates"]``."""
    verdicts = await asyncio.gather(*(judge.judge(view, [*visible, draft]) for draft in drafts))
    prefs = [
        v.probabilities[LETTERS.index(d.argues_for_letter or "A")] if v.probabilities else 0.0
        for d, v in zip(drafts, verdicts)
    ]
    best = max(range(len(drafts)), key=prefs.__getitem__)
    candidates = [{"text": d.text, "preference": p, "n_verified": d.n_verified} for d, p in zip(drafts, prefs)]
    chosen = drafts[best]
    return chosen.model_copy(update={"meta": {**chosen.meta, "best_of": len(drafts), "chosen": best, "candidates": candidates}})
