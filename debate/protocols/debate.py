"""Debate: two experts argue opposite options for N rounds; the judge decides.

Debater A defends the first option shown and Debater B the second; with both option orders
each model defends each option once per question. Simultaneous rounds hide each debater's
current-round speech from the other; sequential rounds let B answer A.
"""

from __future__ import annotations

from debate.core.transcript import Role, Verdict
from debate.protocols.context import EpisodeContext
from debate.protocols.params import Rounds
from debate.protocols.prompts import debate_framing
from debate.protocols.registry import protocol


async def debate_rounds(
    ctx: EpisodeContext, a_option: int, b_option: int, rounds: int, simultaneous: bool, interactive: bool, first_round: int = 1
) -> None:
    framing = debate_framing(ctx.letter(a_option), ctx.letter(b_option), passage=ctx.has_passage)
    for r in range(first_round, first_round + rounds):
        if simultaneous:
            await ctx.speak_together([(Role.DEBATER_A, a_option), (Role.DEBATER_B, b_option)], r, framing)
        else:
            await ctx.speak(Role.DEBATER_A, a_option, r, framing)
            await ctx.speak(Role.DEBATER_B, b_option, r, framing)
        if interactive and r < first_round + rounds - 1:
            await ctx.ask(r)


@protocol("debate", roles=("debater_a", "debater_b", "judge"))
async def debate(ctx: EpisodeContext, rounds: Rounds = 2, simultaneous: bool = True, interactive: bool = False) -> Verdict:
    """Two debaters defend the two options shown; the judge reads both."""
    await debate_rounds(ctx, ctx.shown(0), ctx.shown(1), rounds, simultaneous, interactive)
    return await ctx.decide()
