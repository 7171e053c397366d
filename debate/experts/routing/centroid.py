"""Centroid routing: the question's pooled hidden state against each expert's data centroid.

The base model (no adapter) embeds ``routing_text(question)`` with the same pooling the
centroids were built with; each expert scores the cosine similarity. With ``null_share`` p > 0
the null expert scores the threshold of ``null_slots.null_threshold``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from debate.core.question import Question
from debate.experts.library.manifest import ExpertManifest
from debate.experts.routing.base import Embed, check_k, check_null_share, top_k
from debate.experts.routing.decision import NULL, RoutingDecision
from debate.experts.routing.null_slots import null_threshold
from debate.experts.routing.text import routing_text


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity; 0.0 when either vector is zero."""
    if len(a) != len(b):
        raise ValueError(f"vectors of different lengths: {len(a)} and {len(b)}")
    dot = sum(x * y for x, y in zip(a, b))
    na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


class CentroidRouter:
    name = "centroid"

    def __init__(self, embed: Embed, null_share: float = 0.0) -> None:
        self.embed = embed
        self.null_share = check_null_share(null_share)

    async def route(self, question: Question, experts: list[ExpertManifest], k: int) -> RoutingDecision:
        check_k(k, experts)
        centroids = {}
        for m in experts:
            if m.router is None or not m.router.centroid:
                raise ValueError(f"expert {m.name!r} has no router centroid (manifest 'router'); the centroid router needs one")
            centroids[m.name] = m.router.centroid
        threshold = null_threshold(experts, self.null_share) if self.null_share > 0 else None
        [vector] = await self.embed([routing_text(question)])
        scores = {}
        for name, centroid in centroids.items():
            if len(centroid) != len(vector):
                raise ValueError(
                    f"expert {name!r}: centroid has {len(centroid)} dimensions, the question's embedding {len(vector)}"
                )
            scores[name] = cosine(vector, centroid)
        chosen = top_k(scores, k, threshold, [m.name for m in experts])
        if threshold is not None:
            scores[NULL] = threshold
        return RoutingDecision(router=self.name, k=k, scores=scores, chosen=chosen, null_share=self.null_share,
                               null_threshold=threshold, domains={m.name: m.domain for m in experts})
