"""Where the centroid router's null expert sits: a cosine threshold read off the experts'
self-similarity quantiles, so that about ``null_share`` of in-domain questions route to null.

Each manifest stores the quantiles (0, .1, …, 1) of its training questions' cosine similarity
to its own centroid: the distribution of the score an in-domain question gets from its own
expert. Read as a piecewise-linear CDF ``F_e``, an in-domain question of expert e falls below
a threshold t with probability ``F_e(t)``. Its first choice is null when every expert scores
below t; its own expert normally scores highest, so that happens with probability about
``F_e(t)``. Over a mix with equally many questions per domain the share is the mean of the
``F_e(t)``, so the threshold solves ``mean_e F_e(t) = null_share`` (the null_share-quantile of
the equal mixture). Held-out questions are not training questions, so the realised share is
"about" p, not exactly p; ``debate report`` shows the realised share. One threshold serves every
expert (the null is one slot with one score): when the experts' similarity distributions sit at
different levels (templated logic questions are tight and high), the shares per domain differ
even though their mean is p, and a domain whose held-out questions drift from its training
questions goes to the null more often.
"""

from __future__ import annotations

from collections.abc import Sequence

from debate.experts.library.manifest import ExpertManifest

LEVELS = tuple(i / 10 for i in range(11))
"""The quantile levels a manifest's ``self_similarity`` holds."""


def similarity_quantiles(expert: ExpertManifest) -> list[float]:
    """The expert's 11 self-similarity quantiles, checked (count and order)."""
    q = list(expert.router.self_similarity) if expert.router is not None else []
    if len(q) != len(LEVELS):
        raise ValueError(
            f"expert {expert.name!r}: router.self_similarity must hold {len(LEVELS)} quantiles "
            f"(0, .1, …, 1) for null slots; it holds {len(q)}"
        )
    if any(b < a for a, b in zip(q, q[1:])):
        raise ValueError(f"expert {expert.name!r}: router.self_similarity quantiles must not decrease: {q}")
    return q


def quantile_cdf(quantiles: Sequence[float], x: float) -> float:
    """P(similarity <= x) under the piecewise-linear CDF through (quantiles[i], LEVELS[i])."""
    if x < quantiles[0]:
        return 0.0
    if x >= quantiles[-1]:
        return 1.0
    for i in range(len(quantiles) - 1):
        lo, hi = quantiles[i], quantiles[i + 1]
        if lo <= x < hi:
            return LEVELS[i] + (LEVELS[i + 1] - LEVELS[i]) * (x - lo) / (hi - lo)
    return 1.0  # unreachable: x lies in some [lo, hi)


def null_threshold(experts: Sequence[ExpertManifest], null_share: float) -> float:
    """The cosine t with ``mean_e F_e(t) = null_share`` (bisection; the mean CDF is monotone)."""
    if not 0.0 < null_share < 1.0:
        raise ValueError(f"null_share must be in (0, 1) for a threshold, got {null_share!r}")
    qs = [similarity_quantiles(e) for e in experts]

    def share(t: float) -> float:
        return sum(quantile_cdf(q, t) for q in qs) / len(qs)

    lo, hi = min(q[0] for q in qs), max(q[-1] for q in qs)
    for _ in range(100):
        mid = (lo + hi) / 2
        if share(mid) < null_share:
            lo = mid
        else:
            hi = mid
    return hi
