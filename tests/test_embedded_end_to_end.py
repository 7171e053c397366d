"""The real thing, small: the embedded Gemma 3 270M as experts and judge on a shipped QuALITY
question, every protocol, read back from SQLite. Loads the model (converted once per machine)."""

from __future__ import annotations

import sqlite3

import pytest

from debate.config import ProtocolSpec, RunConfig
from debate.datasets import load_sample
from debate.orchestrator import run_experiment
from debate.report import accuracy_table
from debate.storage import open_database

pytestmark = pytest.mark.slow


async def test_embedded_model_runs_every_protocol_and_stores_it(tmp_path):
    question = load_sample(limit=1)
    cfg = RunConfig(
        name="embedded", db=str(tmp_path / "e.sqlite"), both_orders=False, speech_tokens=6, temperature=0.0,
        protocols=[ProtocolSpec(name="direct_blind"), ProtocolSpec(name="direct_oracle"),
                   ProtocolSpec(name="consultancy", params={"rounds": 1}),
                   ProtocolSpec(name="debate", params={"rounds": 1}),
                   ProtocolSpec(name="open_debate", params={"rounds": 1})],
    )
    result = await run_experiment(cfg, questions=question)
    assert (result.total, result.completed, result.errors) == (6, 6, 0)

    con = sqlite3.connect(tmp_path / "e.sqlite")
    # speeches: consultancy 2 x 1, debate 2, open debate 2; plus open debate's direct answer and the oracle's
    assert con.execute("select kind, count(*) from turns group by kind order by kind").fetchall() == [("answer", 2), ("speech", 6)]
    calls = con.execute("select role, purpose, prompt_tokens, completion_tokens, prompt from model_calls").fetchall()
    assert len(calls) == 6 + 2 + 5  # speeches, direct answers, judge verdicts
    story = question[0].context
    for role, purpose, n_prompt, n_out, prompt in calls:
        assert n_prompt > 0
        if purpose == "generate":
            assert 1 <= n_out <= 6
        if role == "judge":
            assert story[:200] not in prompt and n_prompt < 1000
        else:
            assert story[:200] in prompt and n_prompt > 3000  # experts read the whole story
    probs = con.execute("select probabilities_json from verdicts where is_final").fetchall()
    assert len(probs) == 6
    db = open_database(tmp_path / "e.sqlite")
    rows = accuracy_table(db.outcomes("embedded"))
    assert sum(r.n for r in rows) == 6 and all(r.parse_failures == 0 for r in rows)
