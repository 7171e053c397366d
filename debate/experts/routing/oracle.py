"""Oracle routing: the expert whose domain is the question's (``source["domain"]``).

The upper bound of what a router can do when domains are the right unit. The domain expert
scores 1 and the others 0 (their order, for k > 1, is a seeded per-question shuffle, so no
expert is always second). With ``null_share`` p > 0 the null expert scores 2 on a seeded p of
the questions (the judge answers alone) and 0.5 on the rest, so an oracle never hands a
question to an expert of another domain when null slots are allowed.
"""

from __future__ import annotations

import random

from debate.core.question import Question
from debate.experts.library.manifest import ExpertManifest
from debate.experts.routing.base import check_k, check_null_share, top_k
from debate.experts.routing.decision import NULL, RoutingDecision


def question_domain(question: Question) -> str:
    domain = question.source.get("domain")
    if not isinstance(domain, str) or not domain:
        raise ValueError(
            f"question {question.id!r} has no domain (source['domain']); oracle routing needs domain-labelled "
            "questions, e.g. the dataset 'domains-sample' or 'domains:<root>'"
        )
    return domain


class OracleRouter:
    name = "oracle"

    def __init__(self, null_share: float = 0.0, seed: int = 0) -> None:
        self.null_share = check_null_share(null_share)
        self.seed = seed

    async def route(self, question: Question, experts: list[ExpertManifest], k: int) -> RoutingDecision:
        check_k(k, experts)
        domain = question_domain(question)
        if not any(m.domain == domain for m in experts):
            raise ValueError(
                f"question {question.id!r} is in domain {domain!r}, but no expert is "
                f"(experts' domains: {', '.join(sorted({m.domain for m in experts}))})"
            )
        rng = random.Random(f"oracle:{self.seed}:{question.id}")
        tiebreak = [m.name for m in experts]
        rng.shuffle(tiebreak)
        scores = {m.name: 1.0 if m.domain == domain else 0.0 for m in experts}
        threshold = None
        if self.null_share > 0:
            threshold = 2.0 if rng.random() < self.null_share else 0.5
        chosen = top_k(scores, k, threshold, tiebreak)
        if threshold is not None:
            scores[NULL] = threshold
        return RoutingDecision(router=self.name, k=k, scores=scores, chosen=chosen, null_share=self.null_share,
                               null_threshold=threshold, domains={m.name: m.domain for m in experts})
