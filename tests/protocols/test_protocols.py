"""Each protocol's turn schedule, option-order mapping and side assignment, on scripted models."""

from __future__ import annotations

import pytest

from debate.core.transcript import ParseStatus, Role
from debate.judges.logprob import LogProbJudge
from debate.protocols import EpisodeContext, SpeechSettings, get_protocol
from tests.helpers import expert, judge, question


def ctx_for(order=(0, 1), judge_letter="A", expert_letter="A", replies=None, gold=1) -> EpisodeContext:
    ex = expert(replies, expert_letter)
    return EpisodeContext(
        question=question(gold=gold), order=order,
        experts={Role.EXPERT: ex, Role.DEBATER_A: ex, Role.DEBATER_B: ex},
        judge=LogProbJudge(judge(judge_letter)), settings=SpeechSettings(max_tokens=16, temperature=0.0, seed=3),
    )


def schedule(ctx: EpisodeContext) -> list[tuple[int, str, str, int | None]]:
    return [(t.round, t.role.value, t.kind.value, t.argues_for) for t in ctx.turns]


async def run(name: str, ctx: EpisodeContext, **params):
    return await get_protocol(name).run(ctx, params)


async def test_direct_blind_maps_letter_back_through_order():
    ctx = ctx_for(order=(1, 0), judge_letter="A")
    v = await run("direct_blind", ctx)
    assert ctx.turns == []
    assert v.chosen == 1 and v.status is ParseStatus.OK  # letter A shows option 1 in this order
    assert v.probabilities[1] > v.probabilities[0]
    assert abs(sum(v.probabilities) - 1) < 1e-9


async def test_direct_oracle_uses_expert_answer():
    ctx = ctx_for(order=(0, 1), expert_letter="B")
    v = await run("direct_oracle", ctx)
    assert v.chosen == 1 and v.judge_kind == "expert"
    assert schedule(ctx) == [(0, "expert", "answer", 1)]


@pytest.mark.parametrize(("side", "argued"), [("correct", 1), ("incorrect", 0)])
async def test_consultancy_argues_assigned_side_each_round(side, argued):
    ctx = ctx_for(gold=1)
    await run("consultancy", ctx, side=side, rounds=3)
    assert schedule(ctx) == [(r, "expert", "speech", argued) for r in (1, 2, 3)]


async def test_interactive_consultancy_judge_asks_between_rounds():
    ctx = ctx_for()
    await run("consultancy", ctx, side="correct", rounds=2, interactive=True)
    assert schedule(ctx) == [(1, "expert", "speech", 1), (1, "judge", "judge_question", None), (2, "expert", "speech", 1)]
    assert ctx.turns[1].text == "What does the ledger say?"


async def test_debate_sides_follow_shown_order():
    ctx = ctx_for(order=(1, 0))
    await run("debate", ctx, rounds=2)
    assert [(t.role.value, t.argues_for, t.argues_for_letter) for t in ctx.turns] == [
        ("debater_a", 1, "A"), ("debater_b", 0, "B"), ("debater_a", 1, "A"), ("debater_b", 0, "B")
    ]


async def test_simultaneous_debate_hides_current_round_speech():
    seen: dict[tuple[str, int], str] = {}
    calls = {"n": 0}

    def reply(req):
        calls["n"] += 1
        seen[(req.role, calls["n"])] = req.prompt
        return f"speech {calls['n']} by {req.role}"

    ctx = ctx_for(replies={"*": reply})
    await run("debate", ctx, rounds=2, simultaneous=True)
    prompts = list(seen.values())
    # Round 1: neither debater sees any speech; round 2: both see both round-1 speeches only.
    assert "speech 1" not in prompts[1] and "speech 2" not in prompts[0]
    assert all("speech 1" in p and "speech 2" in p and "speech 3" not in p for p in prompts[2:4])


async def test_sequential_debate_shows_a_to_b():
    prompts: list[str] = []

    def reply(req):
        prompts.append(req.prompt)
        return f"speech {len(prompts)}"

    ctx = ctx_for(replies={"*": reply})
    await run("debate", ctx, rounds=1, simultaneous=False)
    assert "speech 1" in prompts[1]


async def test_open_consultancy_argues_own_choice():
    ctx = ctx_for(order=(0, 1), expert_letter="B")
    await run("open_consultancy", ctx, rounds=1)
    assert schedule(ctx) == [(0, "expert", "answer", 1), (1, "expert", "speech", 1)]
    assert ctx.turns[0].visible_to_judge is False


async def test_open_debate_opponent_gets_other_option():
    ctx = ctx_for(order=(1, 0), expert_letter="A")  # A shows option 1
    await run("open_debate", ctx, rounds=1)
    assert schedule(ctx) == [(0, "debater_a", "answer", 1), (1, "debater_a", "speech", 1), (1, "debater_b", "speech", 0)]


async def test_quotes_are_verified_and_counted_on_turns():
    # Speeches open with the speaker's answer and an open <quote>; the model continues from there.
    ctx = ctx_for(replies={"*": "counted the ships that passed</quote> <quote>a purple ledger</quote>"})
    await run("consultancy", ctx, side="correct", rounds=1)
    t = ctx.turns[0]
    assert (t.n_verified, t.n_unverified) == (1, 1)
    assert t.text.startswith('My answer is B: "Eleven years". The story says: <quote>counted the ships')


async def test_unparseable_generative_verdict_counts_as_wrong():
    from debate.judges.generative import GenerativeJudge
    from debate.experts.scripted import ScriptedBackend

    ctx = ctx_for()
    ctx.judge = GenerativeJudge(ScriptedBackend(replies={"*": "I cannot decide between them."}))
    v = await run("direct_blind", ctx)
    assert v.chosen is None and v.status is not ParseStatus.OK and v.correct(1) is False


async def test_generative_verdict_maps_back_and_reads_confidence():
    from debate.judges.generative import GenerativeJudge
    from debate.experts.scripted import ScriptedBackend

    ctx = ctx_for(order=(1, 0))
    ctx.judge = GenerativeJudge(ScriptedBackend(replies={"*": "The ledger matters.\nAnswer: B\nConfidence: 80%"}))
    v = await run("direct_blind", ctx)
    assert v.chosen == 0 and v.confidence == 0.8 and v.probabilities == [0.8, pytest.approx(0.2)]
