"""Whole runs on scripted models, read back from the SQLite file."""

from __future__ import annotations

import sqlite3

import pytest

from debate.config import ConfigError, ProtocolSpec, RunConfig
from debate.core.episode import EpisodeStatus
from debate.experts.scripted import ScriptedBackend
from debate.orchestrator import run_experiment
from debate.report import accuracy_table
from debate.storage import ConfigMismatchError, open_database
from tests.helpers import expert, prefers, question

PROTOCOLS = [
    ProtocolSpec(name="direct_blind"),
    ProtocolSpec(name="consultancy", params={"rounds": 2}),
    ProtocolSpec(name="debate", params={"rounds": 2}),
]


def config(tmp_path, **kw) -> RunConfig:
    base = dict(name="e2e", db=str(tmp_path / "runs.sqlite"), expert="expert", judge="judge", protocols=PROTOCOLS, speech_tokens=8)
    return RunConfig(**{**base, **kw})


def backends(judge_letter: str = "A") -> dict:
    return {"expert": expert(), "judge": ScriptedBackend(name="judge", scorer=prefers(judge_letter))}


async def test_every_turn_call_and_verdict_is_stored(tmp_path):
    qs = [question("q1", gold=0), question("q2", gold=1), question("q3", gold=1)]
    result = await run_experiment(config(tmp_path), questions=qs, backends=backends("A"))
    # 3 questions x 2 orders x (blind 1 + consultancy 2 sides + debate 1) = 24 episodes
    assert (result.total, result.completed, result.errors) == (24, 24, 0)

    con = sqlite3.connect(tmp_path / "runs.sqlite")
    q = lambda sql: con.execute(sql).fetchall()  # noqa: E731
    assert q("select count(*) from episodes where status='complete'") == [(24,)]
    # speeches: consultancy 2 rounds x 12 episodes + debate 4 x 6 = 48 turns
    assert q("select count(*) from turns") == [(48,)]
    # calls: every speech plus one judge call per episode
    assert q("select count(*) from model_calls") == [(48 + 24,)]
    assert q("select count(*) from verdicts where is_final") == [(24,)]
    assert q("select count(*) from model_calls where role='judge'") == [(24,)]

    # The judge always says "A": correct exactly when the option shown first is gold.
    db = open_database(tmp_path / "runs.sqlite")
    rows = {r.variant: r for r in accuracy_table(db.outcomes("e2e"))}
    hand = {}
    for variant, correct in q("select variant, correct from episodes"):
        hand.setdefault(variant, []).append(correct)
    for variant, vals in hand.items():
        assert rows[variant].n == len(vals) == 6
        assert rows[variant].correct == sum(vals) == 3  # one order of each question shows gold first


async def test_rerun_skips_complete_episodes_and_duplicates_nothing(tmp_path):
    qs = [question("q1"), question("q2", gold=0)]
    first = await run_experiment(config(tmp_path), questions=qs, backends=backends())
    second = await run_experiment(config(tmp_path), questions=qs, backends=backends())
    assert first.completed == 16 and second.skipped == 16 and second.completed == 0
    con = sqlite3.connect(tmp_path / "runs.sqlite")
    assert con.execute("select count(*) from episodes").fetchone() == (16,)
    assert con.execute("select count(*) from turns").fetchone() == (32,)


async def test_failed_episode_is_stored_as_error_and_the_run_goes_on(tmp_path):
    calls = {"n": 0}

    def flaky(req):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("model fell over")
        return "fine"

    bk = backends()
    bk["expert"] = ScriptedBackend(name="expert", replies={"*": flaky})
    result = await run_experiment(config(tmp_path, max_in_flight=1), questions=[question()], backends=bk)
    assert (result.completed, result.errors) == (7, 1)
    db = open_database(tmp_path / "runs.sqlite")
    errs = db.episodes("e2e", status=EpisodeStatus.ERROR)
    assert len(errs) == 1 and "model fell over" in errs[0].error
    # The failed call is recorded with its error.
    assert any(c.error and "model fell over" in c.error for c in db.calls(run_id="e2e"))


async def test_changed_config_cannot_silently_resume(tmp_path):
    await run_experiment(config(tmp_path), questions=[question()], backends=backends())
    with pytest.raises(ConfigError, match=r"run 'e2e' in .* was made with different settings \(seed\)"):
        await run_experiment(config(tmp_path, seed=7), questions=[question()], backends=backends())


async def test_changed_dataset_content_cannot_silently_resume(tmp_path):
    await run_experiment(config(tmp_path), questions=[question(gold=0)], backends=backends())
    with pytest.raises(ConfigError, match="different questions"):
        await run_experiment(config(tmp_path), questions=[question(gold=1)], backends=backends())


async def test_mismatch_is_still_caught_by_storage_if_the_precheck_is_bypassed(tmp_path):
    from debate.storage import DatabaseWriter, open_database

    db = open_database(tmp_path / "x.sqlite")
    async with DatabaseWriter(db) as w:
        await w.put_run("r", "r", "{}", "aaa")
        with pytest.raises(ConfigMismatchError):
            await w.put_run("r", "r", "{}", "bbb")


def test_a_run_held_by_another_process_is_refused(tmp_path):
    import subprocess
    import sys
    import time

    from debate.storage import StorageError
    from debate.storage.lease import run_lease

    db = tmp_path / "l.sqlite"
    holder = subprocess.Popen([sys.executable, "-c", f"""
import time
from debate.storage.lease import run_lease
with run_lease({str(db)!r}, "busy"):
    print("held", flush=True)
    time.sleep(30)
"""], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(StorageError, match="'busy' is being run by another process"):
            with run_lease(db, "busy"):
                pass
        with run_lease(db, "other-run"):  # other runs on the same file are fine
            pass
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.1)
    with run_lease(db, "busy"):  # released when the holder died
        pass


async def test_unknown_protocol_fails_before_the_database_exists(tmp_path):
    cfg = config(tmp_path, protocols=[ProtocolSpec(name="debait")])
    with pytest.raises(ConfigError, match="protocols\\[0\\].name: unknown protocol 'debait'"):
        await run_experiment(cfg, questions=[question()], backends=backends())
    assert not (tmp_path / "runs.sqlite").exists()


async def test_bad_protocol_parameter_is_named(tmp_path):
    cfg = config(tmp_path, protocols=[ProtocolSpec(name="debate", params={"roundz": 2})])
    with pytest.raises(ConfigError, match="no parameter 'roundz'"):
        await run_experiment(cfg, questions=[question()], backends=backends())


async def test_api_can_run_twice_in_one_process(tmp_path):
    import asyncio

    from debate.orchestrator import run

    cfg = config(tmp_path, protocols=[ProtocolSpec(name="direct_blind")])
    shared = backends()
    r1 = await asyncio.to_thread(run, cfg, questions=[question()], backends=shared)
    r2 = await asyncio.to_thread(run, cfg.model_copy(update={"name": "again"}), questions=[question()], backends=shared)
    assert r1.completed == 2 and r2.completed == 2
