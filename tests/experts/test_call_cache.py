"""The opt-in model-call cache: identical calls replay from SQLite without reaching the model."""

from __future__ import annotations

import json
import sqlite3

from debate.config import ProtocolSpec, RunConfig
from debate.experts.backend import GenerateRequest, ScoreRequest
from debate.experts.call_cache import CachingBackend
from debate.experts.scripted import ScriptedBackend
from debate.orchestrator import run_experiment
from debate.orchestrator.rejudge import rejudge
from debate.storage import open_database
from debate.storage.call_cache_store import open_call_cache
from tests.helpers import expert, prefers, question

QUESTIONS = [question("q1", gold=0), question("q2", gold=1)]
# Sequential debate: simultaneous speeches enter the transcript in completion order, which a
# cache hit (answered from a thread) can change, and with it the judge's prompt.
PROTOCOLS = [ProtocolSpec(name="direct_blind"), ProtocolSpec(name="debate", params={"rounds": 1, "simultaneous": False}),
             ProtocolSpec(name="consultancy")]


def config(tmp_path, name: str, cache: str | None, mode: str = "use", **kw) -> RunConfig:
    return RunConfig(name=name, db=str(tmp_path / "r.sqlite"), expert="expert", judge="judge", speech_tokens=8,
                     protocols=PROTOCOLS, call_cache=cache, call_cache_mode=mode, **kw)  # type: ignore[arg-type]


async def run(cfg: RunConfig) -> tuple[ScriptedBackend, ScriptedBackend]:
    e, j = expert(), ScriptedBackend(name="judge", replies={"*": "What does the ledger say?"}, scorer=prefers("A"))
    result = await run_experiment(cfg, questions=QUESTIONS, backends={"expert": e, "judge": j})
    assert result.errors == 0 and result.completed == result.total
    return e, j


def transcript(db_path: str, run_id: str) -> list:
    db = open_database(db_path)
    try:
        out = []
        for ep in db.episodes(run_id):
            turns = [(t.role, t.text) for t in db.turns(ep.id)]
            out.append((ep.question_uid, ep.protocol, ep.order_json, turns, ep.chosen, ep.correct))
        return out
    finally:
        db.close()


def call_hits(db_path: str, run_id: str) -> list[bool]:
    con = sqlite3.connect(db_path)
    rows = con.execute("select params_json from model_calls where run_id = ?", (run_id,)).fetchall()
    con.close()
    return [json.loads(p)["cache_hit"] for (p,) in rows]


async def test_second_run_replays_every_call(tmp_path):
    # The same run into a fresh database: every call (speeches and judging) replays.
    cache = str(tmp_path / "cache.sqlite")
    e1, j1 = await run(config(tmp_path, "first", cache))
    assert e1.calls and j1.calls
    e2, j2 = await run(config(tmp_path, "first", cache).model_copy(update={"db": str(tmp_path / "r2.sqlite")}))
    assert (len(e2.calls), len(j2.calls)) == (0, 0)
    db, db2 = str(tmp_path / "r.sqlite"), str(tmp_path / "r2.sqlite")
    assert transcript(db, "first") == transcript(db2, "first")
    # (q1 and q2 share their text, so the first run already replays some seedless judge calls.)
    assert not all(call_hits(db, "first")) and call_hits(db2, "first") and all(call_hits(db2, "first"))
    con = sqlite3.connect(db2)
    assert con.execute("select sum(cost_usd) from model_calls").fetchone() == (0.0,)


async def test_new_run_name_replays_every_call(tmp_path):
    # Sampling seeds come from what an episode is, not from the run it is in: a renamed run of
    # the same experiment replays every call, sampled speeches included.
    cache = str(tmp_path / "cache.sqlite")
    await run(config(tmp_path, "first", cache))
    e2, j2 = await run(config(tmp_path, "second", cache))
    assert (e2.calls, j2.calls) == ([], [])
    db = str(tmp_path / "r.sqlite")
    assert transcript(db, "first") == transcript(db, "second")
    con = sqlite3.connect(db)
    rows = [json.loads(p) for (p,) in con.execute("select params_json from model_calls where run_id='second'")]
    assert rows and all(p["cache_hit"] for p in rows)
    # The cache options are operational: the run hash ignores them.
    assert config(tmp_path, "x", cache).hash == config(tmp_path, "x", None, mode="refresh").hash


async def test_cache_in_the_run_database_itself(tmp_path):
    db = str(tmp_path / "r.sqlite")
    await run(config(tmp_path, "first", db))
    e2, j2 = await run(config(tmp_path, "second", db))
    assert j2.calls == [] and transcript(db, "first") == transcript(db, "second")
    assert open_call_cache(db).count() > 0


async def test_refresh_calls_again_and_off_ignores(tmp_path):
    cache = str(tmp_path / "cache.sqlite")

    def again(n: int, mode: str) -> RunConfig:
        return config(tmp_path, "first", cache, mode=mode).model_copy(update={"db": str(tmp_path / f"r{n}.sqlite")})

    await run(again(1, "use"))
    e2, j2 = await run(again(2, "refresh"))
    assert e2.calls and j2.calls
    assert not any(call_hits(str(tmp_path / "r2.sqlite"), "first"))
    e3, j3 = await run(again(3, "off"))
    assert e3.calls and j3.calls
    e4, j4 = await run(again(4, "use"))
    assert (len(e4.calls), len(j4.calls)) == (0, 0)
    assert transcript(str(tmp_path / "r1.sqlite"), "first") == transcript(str(tmp_path / "r4.sqlite"), "first")


async def test_changed_parameters_miss(tmp_path):
    cache = str(tmp_path / "cache.sqlite")
    await run(config(tmp_path, "first", cache))
    e2, _ = await run(config(tmp_path, "second", cache, seed=1))
    assert e2.calls
    e3, _ = await run(config(tmp_path, "third", cache, temperature=0.3))
    assert e3.calls

    store = open_call_cache(cache)
    inner = ScriptedBackend(name="m")
    b = CachingBackend(inner, store, "use", spec={"backend": "given"})
    req = GenerateRequest(prompt="p", prefix="x", max_tokens=4, temperature=0.7, seed=3)
    first = await b.generate(req)
    assert first.meta["cache_hit"] is False
    again = await b.generate(req.model_copy(update={"role": "someone else"}))
    assert again.meta["cache_hit"] is True and again.text == first.text and len(inner.calls) == 1
    for change in ({"seed": 4}, {"temperature": 0.0}, {"prompt": "q"}, {"prefix": "y"}, {"max_tokens": 5}, {"stop": ["\n"]}):
        await b.generate(req.model_copy(update=change))
    assert len(inner.calls) == 7
    s = ScoreRequest(prompt="p", continuations=[" A", " B"])
    assert (await b.score(s)).meta["cache_hit"] is False  # type: ignore[attr-defined]
    hit = await b.score(s)
    assert hit.meta["cache_hit"] is True and hit.logprobs == [-1.0, -2.0]  # type: ignore[attr-defined]
    await b.score(s.model_copy(update={"continuations": [" A", " C"]}))
    assert len(inner.calls) == 9
    other = CachingBackend(ScriptedBackend(name="m"), store, "use", spec={"backend": "given", "model": "other"})
    await other.generate(req)
    assert len(other.inner.calls) == 1  # type: ignore[attr-defined]
    store.close()


async def test_rejudge_replays_through_a_cached_judge(tmp_path):
    cache = str(tmp_path / "cache.sqlite")
    db = str(tmp_path / "r.sqlite")
    await run(config(tmp_path, "orig", None))
    models = RunConfig(call_cache=cache)
    spy = ScriptedBackend(name="b-judge", scorer=prefers("B"))
    first = await rejudge(db, "orig", "b-judge", backends={"b-judge": spy}, models=models)
    n = len(spy.calls)
    assert first.judged and n
    # A second database with the same run: the cached judge answers without a call.
    db2 = str(tmp_path / "r2.sqlite")
    await run(config(tmp_path, "orig", None).model_copy(update={"db": db2}))
    spy2 = ScriptedBackend(name="b-judge", scorer=prefers("B"))
    second = await rejudge(db2, "orig", "b-judge", backends={"b-judge": spy2}, models=models)
    assert second.judged == first.judged and spy2.calls == []
    assert all(call_hits(db2, "orig")[-n:])
    con1, con2 = sqlite3.connect(db), sqlite3.connect(db2)
    q = "select e.question_uid, e.order_json, v.chosen, v.correct from verdicts v join episodes e on e.id = v.episode_id " \
        "where v.judge_model like 'b-judge%' order by 1, 2"
    assert con1.execute(q).fetchall() == con2.execute(q).fetchall()
