"""Percentile bootstrap confidence interval for judge accuracy, resampling *questions*.

Why clustered: every question runs in both option orders (and consultancy on both sides), and
those episodes share the question's difficulty, so they are not independent trials. Resampling
episodes would pretend they are and give intervals that are too narrow; resampling questions
(with all of their episodes) keeps the correlation inside each draw. The Wilson interval in
``accuracy.py`` is the episode-level interval; this is the honest one for paired designs.

Seeded (default 0) so a report prints the same interval every time it is run.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from debate.core import EpisodeStatus, ParseStatus
from debate.storage import Outcome

N_RESAMPLES = 10_000
_CHUNK_CELLS = 4_000_000
"""Resample indices drawn per chunk (rows x clusters): bounds memory on large runs without
changing the draws (numpy's generator streams the same numbers in chunks as in one call)."""


def cluster_totals(correct: Sequence[float], clusters: Sequence[Hashable]) -> tuple[np.ndarray, np.ndarray]:
    """Per-cluster (successes, episodes), clusters in order of first appearance (which fixes
    what a seed means)."""
    if len(correct) != len(clusters):
        raise ValueError(f"{len(correct)} outcomes but {len(clusters)} cluster labels")
    index: dict[Hashable, int] = {}
    for c in clusters:
        index.setdefault(c, len(index))
    ids = np.fromiter((index[c] for c in clusters), dtype=np.int64, count=len(clusters))
    successes = np.bincount(ids, weights=np.asarray(correct, dtype=float), minlength=len(index))
    counts = np.bincount(ids, minlength=len(index)).astype(float)
    return successes, counts


def bootstrap_accuracy_ci(
    correct: Sequence[float],
    clusters: Sequence[Hashable] | None = None,
    *,
    n_resamples: int = N_RESAMPLES,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval for the pooled accuracy ``sum(correct) / len(correct)``.

    Each resample draws as many clusters as there are, with replacement (``rng.integers`` from
    ``numpy.random.default_rng(seed)``, one row of cluster indices per resample), and computes
    the pooled accuracy of the drawn episodes; the interval is the ``(1 - level) / 2`` and
    ``(1 + level) / 2`` percentiles (numpy's default linear interpolation). ``clusters=None``
    treats every episode as its own cluster. No episodes gives the uninformative (0, 1), as
    ``wilson_interval`` does.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be positive, got {n_resamples}")
    if len(correct) == 0:
        return (0.0, 1.0)
    labels: Sequence[Hashable] = clusters if clusters is not None else range(len(correct))
    successes, counts = cluster_totals(correct, labels)
    n_clusters = len(counts)
    rng = np.random.default_rng(seed)
    rows_per_chunk = max(1, _CHUNK_CELLS // n_clusters)
    estimates = np.empty(n_resamples)
    for start in range(0, n_resamples, rows_per_chunk):
        rows = min(rows_per_chunk, n_resamples - start)
        idx = rng.integers(0, n_clusters, size=(rows, n_clusters))
        estimates[start : start + rows] = successes[idx].sum(axis=1) / counts[idx].sum(axis=1)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(estimates, [tail, 100 - tail])
    return (float(low), float(high))


def judged_correct(outcome: Outcome) -> bool:
    """The accuracy table's rule: right only with a parsed final verdict on the gold option."""
    return outcome.correct is True and outcome.parse_status is ParseStatus.OK


def bootstrap_outcomes_ci(
    outcomes: Sequence[Outcome], *, n_resamples: int = N_RESAMPLES, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """The question-clustered interval over the complete episodes of ``outcomes`` (the same
    ``n`` as the accuracy table: parse failures count as wrong, errors and pending are out)."""
    complete = [o for o in outcomes if o.status is EpisodeStatus.COMPLETE]
    return bootstrap_accuracy_ci(
        [float(judged_correct(o)) for o in complete], [o.question_key for o in complete],
        n_resamples=n_resamples, seed=seed, level=level,
    )


__all__ = ["N_RESAMPLES", "bootstrap_accuracy_ci", "bootstrap_outcomes_ci", "cluster_totals", "judged_correct"]
