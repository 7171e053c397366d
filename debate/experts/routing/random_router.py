"""Random routing, the baseline: every expert scores a uniform draw seeded by the question id,
so a rerun (or the question's other option order) routes identically.

With ``null_share`` p > 0 the null expert scores ``p ** (1 / n)`` for n experts: all n draws
fall below it with probability exactly p, so p of the questions go to the judge alone, and a
k > 1 slot goes to null whenever its expert drew less.
"""

from __future__ import annotations

import random

from debate.core.question import Question
from debate.experts.library.manifest import ExpertManifest
from debate.experts.routing.base import check_k, check_null_share, top_k
from debate.experts.routing.decision import NULL, RoutingDecision


class RandomRouter:
    name = "random"

    def __init__(self, null_share: float = 0.0, seed: int = 0) -> None:
        self.null_share = check_null_share(null_share)
        self.seed = seed

    async def route(self, question: Question, experts: list[ExpertManifest], k: int) -> RoutingDecision:
        check_k(k, experts)
        rng = random.Random(f"random-router:{self.seed}:{question.id}")
        scores = {m.name: rng.random() for m in experts}
        threshold = self.null_share ** (1 / len(experts)) if self.null_share > 0 else None
        chosen = top_k(scores, k, threshold, [m.name for m in experts])
        if threshold is not None:
            scores[NULL] = threshold
        return RoutingDecision(router=self.name, k=k, scores=scores, chosen=chosen, null_share=self.null_share,
                               null_threshold=threshold, domains={m.name: m.domain for m in experts})
