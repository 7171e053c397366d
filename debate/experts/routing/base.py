"""The router interface, and the top-k-with-null-slots ranking every router shares."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from debate.core.question import Question
from debate.experts.library.manifest import ExpertManifest
from debate.experts.routing.decision import NULL, RoutingDecision

Embed = Callable[[list[str]], Awaitable[list[list[float]]]]
"""Texts -> pooled hidden states of the base model (``LocalBackend.embed``)."""


class Router(Protocol):
    """Ranks a library's experts for one question."""

    name: str

    async def route(self, question: Question, experts: list[ExpertManifest], k: int) -> RoutingDecision: ...


def check_k(k: int, experts: Sequence[ExpertManifest]) -> None:
    """``k`` must be a whole number from 1 to the number of experts; the message names both."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    if not experts:
        raise ValueError("there are no experts to route to (the model has no expert library)")
    if k > len(experts):
        names = ", ".join(m.name for m in experts)
        noun = "expert" if len(experts) == 1 else "experts"
        raise ValueError(f"k={k} is more than the {len(experts)} {noun} in the library ({names})")


def check_null_share(null_share: float) -> float:
    if not 0.0 <= null_share < 1.0:
        raise ValueError(f"null_share must be in [0, 1), got {null_share!r}")
    return float(null_share)


def top_k(scores: dict[str, float], k: int, null_score: float | None, tiebreak: Sequence[str]) -> list[str]:
    """The k best of the experts plus k null slots that all score ``null_score`` (AdaMoE).

    Experts are ranked by score (ties by their position in ``tiebreak``); an expert takes a slot
    only if it scores at least the null score, so once the null wins a slot it wins the rest:
    a question uses as many real experts as beat the threshold, up to k.
    """
    position = {name: i for i, name in enumerate(tiebreak)}
    ranked = sorted(scores, key=lambda n: (-scores[n], position[n]))
    chosen: list[str] = []
    for name in ranked[:k]:
        if null_score is not None and scores[name] < null_score:
            break
        chosen.append(name)
    return chosen + [NULL] * (k - len(chosen))
