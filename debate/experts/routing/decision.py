"""What a router decided for one question: every score, and the experts chosen in rank order.

A decision is stored whole with the episode (the routing turn's meta), so every routed result
can be traced to the scores that produced it and routing accuracy can be computed afterwards.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

NULL = "null"
"""The null expert (AdaMoE): a slot given to no expert; a question whose first choice is null is
answered by the judge alone."""


class RoutingDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    router: str
    """Which router decided: ``centroid``, ``oracle`` or ``random``."""
    k: int = Field(ge=1)
    scores: dict[str, float]
    """Score per expert name; ``"null"`` too when null slots are in use (its score is the threshold)."""
    chosen: list[str]
    """The k slots in rank order: expert names, then ``"null"`` for slots no expert won."""
    null_share: float = 0.0
    null_threshold: float | None = None
    """The null expert's score (None without null slots)."""
    domains: dict[str, str] = Field(default_factory=dict)
    """Each expert's domain, so routing accuracy can be read from the decision alone."""

    @property
    def experts(self) -> list[str]:
        """The real experts chosen, best first (null slots dropped)."""
        return [c for c in self.chosen if c != NULL]

    @property
    def top(self) -> str:
        """The first choice: an expert name or ``"null"``."""
        return self.chosen[0]
