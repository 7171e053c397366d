"""Open consultancy and open debate (Kenton et al. 2024): the expert first answers directly,
then argues for its own choice, so the judge's accuracy is bounded by the expert's honesty
rather than by an assigned side."""

from __future__ import annotations

from debate.core.transcript import Role, Verdict
from debate.protocols.context import EpisodeContext
from debate.protocols.params import Rounds
from debate.protocols.debate import debate_rounds
from debate.protocols.consultancy import consult_rounds
from debate.protocols.registry import protocol


@protocol("open_consultancy", roles=("expert", "judge"))
async def open_consultancy(ctx: EpisodeContext, rounds: Rounds = 1, interactive: bool = False) -> Verdict:
    """The consultant picks its answer, then argues for it."""
    choice = await ctx.answer(Role.EXPERT)
    await consult_rounds(ctx, choice, rounds, interactive)
    return await ctx.decide()


@protocol("open_debate", roles=("debater_a", "debater_b", "judge"))
async def open_debate(ctx: EpisodeContext, rounds: Rounds = 2, simultaneous: bool = True, interactive: bool = False) -> Verdict:
    """Debater A picks its answer and defends it; Debater B is given the other option."""
    choice = await ctx.answer(Role.DEBATER_A)
    await debate_rounds(ctx, choice, ctx.distractor(choice), rounds, simultaneous, interactive)
    return await ctx.decide()
