"""The judge never sees the hidden passage: by type, and by spying on every judge prompt."""

from __future__ import annotations

import inspect

import pytest
from pydantic import ValidationError

from debate.config import ProtocolSpec, RunConfig
from debate.core.question import JudgeView
from debate.experts.scripted import ScriptedBackend
from debate.judges.base import Judge
from debate.judges.generative import GenerativeJudge
from debate.judges.logprob import LogProbJudge
from debate.orchestrator import run_experiment
from debate.protocols import protocols
from debate.storage import open_database
from tests.helpers import CANARY, PASSAGE, prefers, question


def test_judge_view_has_no_field_for_a_passage():
    assert set(JudgeView.model_fields) == {"id", "question", "options", "closed_book"}
    assert JudgeView.model_fields["closed_book"].annotation is bool  # one flag (no passage exists), never text
    with pytest.raises(ValidationError):
        JudgeView(id="x", question="q", options=("a", "b"), context=PASSAGE)  # type: ignore[call-arg]
    assert "context" not in question().judge_view().model_dump()


@pytest.mark.parametrize("cls", [LogProbJudge, GenerativeJudge])
def test_judge_methods_take_a_view_not_a_question(cls):
    for method in ("judge", "ask"):
        hints = inspect.signature(getattr(cls, method)).parameters["view"].annotation
        assert hints in ("JudgeView", JudgeView)
    assert isinstance(cls(ScriptedBackend()), Judge)


@pytest.mark.parametrize("judge_kind", ["logprob", "generative"])
async def test_no_judge_call_in_any_protocol_receives_passage_text(tmp_path, judge_kind):
    # Experts quote only the first sentence; the canary sentence must never reach the judge.
    expert = ScriptedBackend(
        name="expert", replies={"*": "Mara kept the lighthouse on Gull Rock for eleven years</quote> so I am right."},
        scorer=prefers("B"),
    )
    spy = ScriptedBackend(name="judge", replies={"*": "Which answer has evidence?\nAnswer: A"}, scorer=prefers("A"))
    specs = [
        ProtocolSpec(name=name, params={"interactive": True} if "interactive" in inspect.signature(info.fn).parameters else {})
        for name, info in protocols().items()
        if name != "routed"  # needs an expert library: tests/protocols/test_routed.py spies on its judge
    ]
    cfg = RunConfig(name="iso", db=str(tmp_path / "iso.sqlite"), expert="expert", judge="judge",
                    judge_kind=judge_kind, protocols=specs, speech_tokens=8)
    await run_experiment(cfg, questions=[question("q1"), question("q2", gold=0)], backends={"expert": expert, "judge": spy})

    judge_prompts = [c.full_prompt for c in spy.calls]
    assert len(judge_prompts) >= 2 * 2 * (len(specs) - 1)  # every judged episode called the judge
    for prompt in judge_prompts:
        assert CANARY not in prompt
        assert "green ledger" not in prompt and "Story:" not in prompt
    # The stored judge calls say the same.
    db = open_database(cfg.db)
    stored = [c for c in db.calls(run_id="iso") if c.role == "judge"]
    assert len(stored) == len(judge_prompts)
    assert all(CANARY not in c.prompt for c in stored)
    # Experts, by contrast, do read it.
    assert all(CANARY in c.full_prompt for c in expert.calls)
