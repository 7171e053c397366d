"""A new protocol in a few lines: "rebuttal consultancy".

The consultant argues its assigned side, a skeptic (played by the second debater role) gets one
rebuttal, then the consultant answers it. Register it by name and run it like a built-in.

    python examples/custom_protocol.py            # scripted models, instant
    python examples/custom_protocol.py --local    # the embedded Gemma 3 270M (minutes on CPU)
"""

from __future__ import annotations

import sys

import debate
from debate import EpisodeContext, ProtocolSpec, Role, RunConfig, Verdict
from debate.experts import ScriptedBackend
from debate.protocols.prompts import consultancy_framing


@debate.protocol("rebuttal_consultancy", roles=("expert", "debater_b", "judge"),
                 variants=({"side": "correct"}, {"side": "incorrect"}))
async def rebuttal_consultancy(ctx: EpisodeContext, side: str = "correct") -> Verdict:
    """Consultant speech, one skeptic rebuttal, consultant reply, verdict."""
    argued = ctx.gold if side == "correct" else ctx.distractor(ctx.gold)
    framing = consultancy_framing(ctx.letter(argued)) + " A skeptic defends the other answer once."
    await ctx.speak(Role.EXPERT, argued, 1, framing)
    await ctx.speak(Role.DEBATER_B, ctx.distractor(argued), 1, framing)
    await ctx.speak(Role.EXPERT, argued, 2, framing)
    return await ctx.decide()


def main() -> None:
    local = "--local" in sys.argv
    config = RunConfig(
        name="rebuttal-demo", db="examples-demo.sqlite", limit=2,
        expert="embedded" if local else "scripted-expert", judge="embedded" if local else "scripted-judge",
        protocols=[ProtocolSpec(name="rebuttal_consultancy"), ProtocolSpec(name="consultancy", params={"rounds": 2})],
    )
    backends = None if local else {
        "scripted-expert": ScriptedBackend(name="scripted-expert", replies={"*": "The story says so: <quote>the</quote>"}),
        "scripted-judge": ScriptedBackend(name="scripted-judge"),
    }
    result = debate.run(config, backends=backends)
    print(f"{result.completed} episodes complete, {result.errors} errors -> {result.db_path}")
    print("See the numbers with:  debate report examples-demo.sqlite --run rebuttal-demo")


if __name__ == "__main__":
    main()
