"""Consultancy: one expert argues an assigned option for N rounds; the judge decides.

Each question runs twice, with the consultant on the correct and on the incorrect side, so
the headline accuracy is not inflated by an honest-only consultant.
"""

from __future__ import annotations

from typing import Literal

from debate.core.transcript import Role, Verdict
from debate.protocols.context import EpisodeContext
from debate.protocols.params import Rounds
from debate.protocols.prompts import consultancy_framing
from debate.protocols.registry import protocol


@protocol("consultancy", roles=("expert", "judge"), variants=({"side": "correct"}, {"side": "incorrect"}))
async def consultancy(
    ctx: EpisodeContext, side: Literal["correct", "incorrect"] = "correct", rounds: Rounds = 1, interactive: bool = False
) -> Verdict:
    """One consultant argues its assigned side; the judge may question it between rounds."""
    argued = ctx.gold if side == "correct" else ctx.distractor(ctx.gold)
    await consult_rounds(ctx, argued, rounds, interactive)
    return await ctx.decide()


async def consult_rounds(ctx: EpisodeContext, argued: int, rounds: int, interactive: bool) -> None:
    """The consultant's speeches for ``argued``, with a judge question between rounds if asked."""
    framing = consultancy_framing(ctx.letter(argued), passage=ctx.has_passage)
    for r in range(1, rounds + 1):
        await ctx.speak(Role.EXPERT, argued, r, framing)
        if interactive and r < rounds:
            await ctx.ask(r)
