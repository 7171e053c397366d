"""Paired permutation test: is protocol A's judge accuracy different from protocol B's?

Why paired and by question: both protocols run on the same questions in the same option
orders, so comparing them question by question removes question difficulty from the noise
(a far more powerful test than comparing two independent proportions). Episodes are paired by
``(question_uid, option order)``; the differences are then averaged per question, and the
question is the unit whose sign is flipped, since the two orders of a question are correlated.

Under the null hypothesis (the protocol label does not matter) each question's difference is
as likely to be ``+d`` as ``-d``. The statistic is the mean per-question difference; the
two-sided p-value is the share of sign assignments with ``|mean| >= |observed|``. With at most
``EXACT_MAX`` questions every assignment is enumerated (an exact p-value); beyond that a seeded
Monte Carlo sample is drawn and ``p = (1 + hits) / (1 + draws)`` (never 0, Phipson & Smyth 2010).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel

from debate.core import EpisodeStatus
from debate.report.bootstrap import judged_correct
from debate.storage import Outcome

EXACT_MAX = 16
N_PERMUTATIONS = 10_000
_TOL = 1e-12
"""Differences are means of 0/1 values: equal statistics can differ in the last bits."""


class PermutationResult(BaseModel):
    statistic: float
    """Mean of the per-unit differences."""
    p_value: float
    exact: bool
    n_permutations: int
    """Sign assignments evaluated: ``2**n`` when exact, else the Monte Carlo draws."""


def sign_flip_test(
    differences: Sequence[float], *, n_permutations: int = N_PERMUTATIONS, seed: int = 0, exact_max: int = EXACT_MAX
) -> PermutationResult:
    """Two-sided sign-flip permutation test of ``mean(differences) == 0``, one difference per
    independent unit. No units gives p = 1."""
    d = np.asarray(differences, dtype=float)
    n = len(d)
    observed = float(d.mean()) if n else 0.0
    if n == 0:
        return PermutationResult(statistic=0.0, p_value=1.0, exact=True, n_permutations=1)
    threshold = abs(observed) - _TOL
    if n <= exact_max:
        patterns = np.arange(2**n, dtype=np.int64)[:, None] >> np.arange(n, dtype=np.int64) & 1
        stats = ((1 - 2 * patterns) * d).mean(axis=1)  # bit set -> sign flipped
        hits = int(np.count_nonzero(np.abs(stats) >= threshold))
        return PermutationResult(statistic=observed, p_value=hits / 2**n, exact=True, n_permutations=2**n)
    rng = np.random.default_rng(seed)
    hits = 0
    rows_per_chunk = max(1, 4_000_000 // n)
    for start in range(0, n_permutations, rows_per_chunk):
        rows = min(rows_per_chunk, n_permutations - start)
        signs = 1 - 2 * rng.integers(0, 2, size=(rows, n))
        hits += int(np.count_nonzero(np.abs((signs * d).mean(axis=1)) >= threshold))
    return PermutationResult(
        statistic=observed, p_value=(1 + hits) / (1 + n_permutations), exact=False, n_permutations=n_permutations
    )


class PairedComparison(BaseModel):
    """Arm A against arm B on the questions both answered."""

    n_questions: int
    """Questions with at least one (question, order) pair in both arms: the permutation units."""
    n_pairs: int
    """``(question_uid, order)`` keys present in both arms."""
    accuracy_a: float | None
    """A's accuracy on the paired questions, each question weighted equally."""
    accuracy_b: float | None
    difference: float
    """``accuracy_a - accuracy_b`` (the test statistic)."""
    p_value: float
    exact: bool
    n_permutations: int


def paired_differences(a: Sequence[Outcome], b: Sequence[Outcome]) -> dict[str, tuple[float, float]]:
    """question_uid -> (mean correctness of A, of B) over the question's orders present in both.

    Within a key, an arm with several episodes (consultancy's two sides pooled) contributes
    its mean. Only complete episodes count; parse failures are wrong (the accuracy rules)."""

    def by_key(outcomes: Sequence[Outcome]) -> dict[tuple[str, str], list[float]]:
        keyed: dict[tuple[str, str], list[float]] = defaultdict(list)
        for o in outcomes:
            if o.status is EpisodeStatus.COMPLETE:
                keyed[(o.question_key, o.order_json)].append(float(judged_correct(o)))
        return keyed

    ka, kb = by_key(a), by_key(b)
    per_question: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for key in ka.keys() & kb.keys():
        per_question[key[0]].append((float(np.mean(ka[key])), float(np.mean(kb[key]))))
    return {
        q: (float(np.mean([x for x, _ in pairs])), float(np.mean([y for _, y in pairs])))
        for q, pairs in sorted(per_question.items())
    }


def compare_outcomes(
    a: Sequence[Outcome], b: Sequence[Outcome], *, n_permutations: int = N_PERMUTATIONS, seed: int = 0
) -> PairedComparison:
    """Paired permutation test between two arms' outcomes (pairs by question and order)."""
    per_q = paired_differences(a, b)
    n_pairs = len({(o.question_key, o.order_json) for o in a if o.status is EpisodeStatus.COMPLETE}
                  & {(o.question_key, o.order_json) for o in b if o.status is EpisodeStatus.COMPLETE})
    test = sign_flip_test([x - y for x, y in per_q.values()], n_permutations=n_permutations, seed=seed)
    return PairedComparison(
        n_questions=len(per_q),
        n_pairs=n_pairs,
        accuracy_a=float(np.mean([x for x, _ in per_q.values()])) if per_q else None,
        accuracy_b=float(np.mean([y for _, y in per_q.values()])) if per_q else None,
        difference=test.statistic,
        p_value=test.p_value,
        exact=test.exact,
        n_permutations=test.n_permutations,
    )


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (family-wise error control for the many pairwise
    comparisons a report prints), in the input order."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


__all__ = [
    "EXACT_MAX",
    "N_PERMUTATIONS",
    "PairedComparison",
    "PermutationResult",
    "compare_outcomes",
    "holm_adjust",
    "paired_differences",
    "sign_flip_test",
]
