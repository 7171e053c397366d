"""The null-slot mechanism: the threshold read off self-similarity quantiles sends about
null_share of in-domain questions to the null expert at rank 1."""

from __future__ import annotations

import random

import pytest

from debate.core.question import Question
from debate.experts.routing import NULL, make_router, null_threshold, quantile_cdf, routing_text
from tests.routing.fakes import basis, manifest, with_cosines

TIGHT = [0.80 + 0.01 * i for i in range(11)]  # uniform on [0.80, 0.90]
WIDE = [0.60 + 0.04 * i for i in range(11)]  # uniform on [0.60, 1.00]
SKEWED = [0.5, 0.7, 0.8, 0.85, 0.88, 0.9, 0.92, 0.94, 0.95, 0.97, 0.99]


def lib():
    return [manifest("medical", "medical", basis(0), TIGHT), manifest("science", "science", basis(1), WIDE),
            manifest("logic", "logic", basis(2), SKEWED)]


def test_quantile_cdf_interpolates_between_the_stored_quantiles():
    assert quantile_cdf(TIGHT, 0.79) == 0.0
    assert quantile_cdf(TIGHT, 0.80) == 0.0
    assert quantile_cdf(TIGHT, 0.835) == pytest.approx(0.35)
    assert quantile_cdf(TIGHT, 0.90) == 1.0
    assert quantile_cdf(SKEWED, 0.6) == pytest.approx(0.05)


def test_threshold_solves_the_mean_cdf():
    same = [manifest(n, n, basis(i), WIDE) for i, n in enumerate(("a", "b"))]
    assert null_threshold(same, 0.25) == pytest.approx(0.70)  # WIDE's 25% quantile
    pair = [manifest("a", "a", basis(0), [0.6 + 0.02 * i for i in range(11)]),
            manifest("b", "b", basis(1), [0.7 + 0.02 * i for i in range(11)])]
    assert null_threshold(pair, 0.5) == pytest.approx(0.75)  # F_a = 0.75, F_b = 0.25
    t = null_threshold(lib(), 0.3)
    assert sum(quantile_cdf(m.router.self_similarity, t) for m in lib()) / 3 == pytest.approx(0.3)


def draw(quantiles, rng):
    """A similarity from the piecewise-linear distribution the quantiles describe."""
    u = rng.random() * 10
    i = min(int(u), 9)
    return quantiles[i] + (quantiles[i + 1] - quantiles[i]) * (u - i)


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5])
async def test_about_p_of_in_domain_questions_choose_null_at_rank_1(p):
    rng = random.Random(7)
    experts = lib()
    questions, vectors = [], {}
    for n in range(1500):
        i = n % 3
        cos = [0.0, 0.0, 0.0]
        cos[i] = draw(experts[i].router.self_similarity, rng)
        question = Question(id=f"q{n}", question=f"in-domain question {n}", options=("x", "y"), gold_index=0)
        questions.append((question, experts[i].name))
        vectors[routing_text(question)] = with_cosines(cos)

    async def embed(texts):
        return [vectors[t] for t in texts]

    router = make_router("centroid", embed=embed, null_share=p)
    decisions = [(await router.route(question, experts, 1), own) for question, own in questions]
    share = sum(d.top == NULL for d, _ in decisions) / len(decisions)
    assert abs(share - p) < 0.035
    assert all(d.top in (own, NULL) for d, own in decisions)  # the null never displaces routing accuracy
