"""Held-out evaluation of experts: letter accuracy vs order-debiased accuracy, on a fake scorer."""

from __future__ import annotations

from debate.core.question import Question
from debate.experts.backend import ScoreRequest, Scores
from debate.training.evaluate import accuracy


class BiasedKnower:
    """Always prefers letter A by 2 nats, and knows the gold option by 0.1 nat: a position-biased
    model that still has the knowledge."""

    def __init__(self, gold_text: dict[str, str]) -> None:
        self.gold_text = gold_text

    async def score(self, request: ScoreRequest) -> Scores:
        lines = dict(line.split(": ", 1) for line in request.prompt.splitlines() if line[:2] in ("A:", "B:"))
        out = []
        for letter in ("A", "B"):
            lp = -1.0 + (2.0 if letter == "A" else 0.0)
            if any(lines[letter].startswith(g) for g in self.gold_text.values()):
                lp += 0.1
            out.append(lp)
        return Scores(logprobs=out)


async def test_letter_accuracy_is_one_half_for_a_biased_model_and_debiased_finds_its_knowledge() -> None:
    qs = [Question(id=f"q{i}", question=f"Which is right {i}?", options=[f"right {i}", f"wrong {i}"] if i % 2 else
                   [f"wrong {i}", f"right {i}"], gold_index=1 - i % 2) for i in range(6)]
    golds = {q.id: q.options[q.gold_index] for q in qs}
    letter, debiased = await accuracy(BiasedKnower(golds), qs, None)
    assert (letter, debiased) == (0.5, 1.0)


async def test_a_model_that_knows_nothing_is_at_chance_on_both() -> None:
    class Flat:
        async def score(self, request: ScoreRequest) -> Scores:
            return Scores(logprobs=[-0.5, -0.9])

    qs = [Question(id=f"q{i}", question="?", options=["x", "y"], gold_index=i % 2) for i in range(4)]
    letter, debiased = await accuracy(Flat(), qs, None)
    assert letter == 0.5 and debiased == 0.5  # ties go to option 0, which is gold half the time
