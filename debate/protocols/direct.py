"""Direct QA baselines: the judge alone without the passage, and an expert alone with it."""

from __future__ import annotations

from debate.core.transcript import Role, Verdict
from debate.protocols.context import EpisodeContext
from debate.protocols.registry import protocol


@protocol("direct_blind", roles=("judge",))
async def direct_blind(ctx: EpisodeContext) -> Verdict:
    """The judge answers from the question alone: the floor any protocol must beat."""
    return await ctx.decide()


@protocol("direct_oracle", roles=("expert",))
async def direct_oracle(ctx: EpisodeContext) -> Verdict:
    """The expert answers with the passage: the ceiling of what the expert knows."""
    return await ctx.expert_decides(Role.EXPERT)
