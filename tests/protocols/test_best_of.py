"""Best-of-N: N drafts, the judge's favourite kept, every draft stored."""

from __future__ import annotations

import sqlite3
import json

from debate.config import ModelSpec, ProtocolSpec, RunConfig
from debate.core.transcript import Role
from debate.experts.backend import ScoreRequest
from debate.experts.scripted import ScriptedBackend
from debate.judges.logprob import LogProbJudge
from debate.orchestrator import run_experiment
from debate.protocols import EpisodeContext, SpeechSettings, get_protocol
from tests.helpers import question

DRAFTS = ["weak point</quote>", "a convincing point</quote>", "another weak point</quote>"]


def persuaded_judge() -> ScriptedBackend:
    """Gives the side of the last speech 0.9 when that speech is 'convincing', else 0.4."""

    def scorer(req: ScoreRequest) -> list[float]:
        last = req.prompt.rsplit("(defending ", 1)
        if len(last) == 1:
            return [-0.7, -0.7]
        letter = last[1][0]
        p = 0.9 if "convincing" in last[1] else 0.4
        import math

        return [math.log(p) if c.strip() == letter else math.log(1 - p) for c in req.continuations]

    return ScriptedBackend(name="judge", scorer=scorer)


async def test_best_of_three_keeps_the_judges_favourite():
    ctx = EpisodeContext(
        question=question(gold=1), order=(0, 1),
        experts={Role.EXPERT: ScriptedBackend(replies={"*": DRAFTS})},
        judge=LogProbJudge(persuaded_judge()),
        settings=SpeechSettings(max_tokens=8, temperature=0.7, seed=1, best_of={Role.EXPERT: 3}),
    )
    await get_protocol("consultancy").run(ctx, {"side": "correct", "rounds": 1})
    turn = ctx.turns[0]
    assert "a convincing point" in turn.text
    assert turn.meta["best_of"] == 3 and turn.meta["chosen"] == 1
    prefs = [c["preference"] for c in turn.meta["candidates"]]
    assert [round(p, 6) for p in prefs] == [0.4, 0.9, 0.4]
    assert [c["text"].split("<quote>")[1] for c in turn.meta["candidates"]] == [d for d in DRAFTS]


async def test_best_of_from_config_is_stored_with_all_candidates(tmp_path):
    cfg = RunConfig(
        name="bo", db=str(tmp_path / "bo.sqlite"), expert="drafter", judge="judge", both_orders=False,
        models={"drafter": ModelSpec(backend="scripted", best_of=3, replies={"*": DRAFTS})},
        protocols=[ProtocolSpec(name="consultancy", params={"rounds": 1})],
    )
    await run_experiment(cfg, questions=[question()], backends={"judge": persuaded_judge()})
    con = sqlite3.connect(cfg.db)
    rows = con.execute("select text, meta_json from turns").fetchall()
    assert len(rows) == 2  # correct and incorrect side
    for text, meta in rows:
        meta = json.loads(meta)
        assert "convincing" in text and len(meta["candidates"]) == 3
    # 3 drafts per speech, plus 3 preference judgements and 1 verdict per episode.
    assert con.execute("select role, count(*) from model_calls group by role order by role").fetchall() == [("expert", 6), ("judge", 8)]
