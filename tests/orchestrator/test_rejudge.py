"""Re-judging stored transcripts: new verdicts beside the old, no expert call repeated."""

from __future__ import annotations

import sqlite3

from typer.testing import CliRunner

from debate.cli.app import app
from debate.config import ProtocolSpec, RunConfig
from debate.experts.scripted import ScriptedBackend
from debate.orchestrator import run_experiment
from debate.orchestrator.rejudge import rejudge
from debate.report import accuracy_table
from debate.storage import open_database
from tests.helpers import CANARY, expert, prefers, question


async def make_run(tmp_path) -> str:
    cfg = RunConfig(name="orig", db=str(tmp_path / "r.sqlite"), expert="expert", judge="judge", speech_tokens=8,
                    protocols=[ProtocolSpec(name="direct_blind"), ProtocolSpec(name="debate", params={"rounds": 1}),
                               ProtocolSpec(name="direct_oracle")])
    await run_experiment(cfg, questions=[question("q1", gold=0), question("q2", gold=1)],
                         backends={"expert": expert(), "judge": ScriptedBackend(name="judge", scorer=prefers("A"))})
    return cfg.db


async def test_rejudge_adds_verdicts_beside_the_old_ones(tmp_path):
    db_path = await make_run(tmp_path)
    con = sqlite3.connect(db_path)
    expert_calls = con.execute("select count(*) from model_calls where role != 'judge'").fetchone()
    spy = ScriptedBackend(name="b-judge", scorer=prefers("B"))
    result = await rejudge(db_path, "orig", "b-judge", backends={"b-judge": spy})
    # judged: blind and debate episodes (2 questions x 2 orders x 2 protocols); the oracle has no judge.
    assert (result.judged, result.skipped, result.errors) == (8, 0, 0)
    assert con.execute("select count(*) from model_calls where role != 'judge' and role != 'rejudge'").fetchone() == expert_calls
    assert con.execute("select count(*) from verdicts where judge_model='b-judge' and not is_final").fetchone() == (8,)
    assert con.execute("select count(*) from verdicts where is_final").fetchone() == (12,)
    assert all(CANARY not in c.full_prompt for c in spy.calls)

    db = open_database(db_path)
    # The original judge always says A, the new one always B: on every episode they disagree.
    orig = {o.episode_id: o.correct for o in db.outcomes("orig") if o.protocol != "direct_oracle"}
    new = {o.episode_id: o.correct for o in db.outcomes("orig", judged_by="b-judge")}
    assert set(new) == set(orig) and all(new[e] != orig[e] for e in new)
    rows = {r.variant: r for r in accuracy_table(db.outcomes("orig", judged_by="b-judge"))}
    assert rows["debate(rounds=1)"].n == 4 and rows["debate(rounds=1)"].correct == 2

    again = await rejudge(db_path, "orig", "b-judge", backends={"b-judge": spy})
    assert (again.judged, again.skipped) == (0, 8)


def test_rejudge_cli_errors(tmp_path):
    import asyncio

    db_path = asyncio.run(make_run(tmp_path))
    runner = CliRunner()
    bad = runner.invoke(app, ["rejudge", db_path, "--run", "nope", "--judge", "scripted"])
    assert bad.exit_code == 2 and "no run named 'nope'" in bad.stderr
    ok = runner.invoke(app, ["rejudge", db_path, "--run", "orig", "--judge", "scripted"])
    assert ok.exit_code == 0, ok.stderr
    assert "8 episodes judged by scripted" in ok.output
    rep = runner.invoke(app, ["report", db_path, "--run", "orig"])
    assert "Also judged by: scripted (8 verdicts" in rep.output
