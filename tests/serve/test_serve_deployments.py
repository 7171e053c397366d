"""One role served by two ``debate serve`` deployments through litellm's Router: calls spread over
both (recorded per call in the DB), per-deployment limits queue instead of failing, and a run
survives one deployment being killed mid-run without losing a call."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections import Counter
from pathlib import Path

from debate.config import DeploymentSpec, ModelSpec, ProtocolSpec, RunConfig
from debate.experts.backend import GenerateRequest
from debate.experts.litellm_router import Deployment, LiteLLMRouterBackend
from debate.orchestrator import run_experiment
from debate.orchestrator.runner import Progress
from tests.helpers import question
from tests.serve.conftest import KEY, KEY_ENV, MODEL_ID, Server

PROTOCOLS = [ProtocolSpec(name="direct_blind"), ProtocolSpec(name="consultancy", params={"rounds": 1}),
             ProtocolSpec(name="debate", params={"rounds": 1})]


def per_deployment(db: Path) -> Counter[str]:
    if not db.exists():
        return Counter()
    con = sqlite3.connect(db)
    try:
        # Python's json, not SQLite's: params hold -Infinity (a letter absent from the top 20).
        rows = con.execute("select params_json from model_calls").fetchall()
    except sqlite3.OperationalError:  # tables not created yet
        return Counter()
    finally:
        con.close()
    return Counter(json.loads(r[0]).get("deployment") for r in rows)


async def test_full_deployments_queue_instead_of_failing(server_a: Server) -> None:
    # Two deployments (the same server under two names), one call in flight each: six concurrent
    # calls must all succeed; litellm alone would answer four of them with a 429.
    backend = LiteLLMRouterBackend(f"openai/{MODEL_ID}", [
        Deployment(name=n, model=f"openai/{MODEL_ID}", api_base=server_a.api_base, api_key=KEY, max_concurrency=1) for n in ("a1", "a2")
    ], max_retries=1)
    gens = await asyncio.gather(*(backend.generate(GenerateRequest(prompt=f"Ship {i}:", max_tokens=3, temperature=0)) for i in range(6)))
    assert all(len(g.text) == 3 for g in gens)
    assert all(g.meta["attempts"] == 1 for g in gens)  # no call failed and was retried
    counts = Counter(g.meta["deployment"] for g in gens)
    assert set(counts) <= {"a1", "a2"} and sum(counts.values()) == 6


async def test_adapter_requests_name_the_adapter_as_the_model(server_a: Server, tiny_backend) -> None:
    from debate.experts.litellm_backend import _litellm

    backend = LiteLLMRouterBackend(f"openai/{MODEL_ID}", [
        Deployment(name="a", model=f"openai/{MODEL_ID}", api_base=server_a.api_base, api_key=KEY)
    ], max_retries=1)
    request = GenerateRequest(prompt="Kidney or liver?", max_tokens=4, temperature=0, adapter="medical")
    remote = await backend.generate(request)
    assert remote.text == (await tiny_backend.generate(request)).text and remote.meta["deployment"] == "a"
    try:
        await backend.generate(request.model_copy(update={"adapter": "surgery"}))
    except _litellm().NotFoundError as exc:
        assert "The model `surgery` does not exist" in str(exc)  # the server was asked for model=surgery
    else:
        raise AssertionError("a server without that expert must answer 404")


async def test_run_spreads_over_two_deployments_and_survives_one_stopping(server_a: Server, server_b: Server, tmp_path: Path) -> None:
    db = tmp_path / "deployments.sqlite"
    spec = ModelSpec(backend="litellm", model=f"openai/{MODEL_ID}", api_key_env=KEY_ENV, max_retries=3, deployments=[
        DeploymentSpec(api_base=server_a.api_base, name="a", max_concurrency=2),
        DeploymentSpec(api_base=server_b.api_base, name="b", max_concurrency=2),
    ])
    cfg = RunConfig(name="two", db=str(db), expert="served", judge="served", both_orders=False, speech_tokens=4,
                    max_in_flight=4, models={"served": spec}, protocols=PROTOCOLS)
    questions = [question(f"q{i}", gold=i % 2) for i in range(5)]
    at_kill: Counter[str] = Counter()

    def kill_b_midway(progress: Progress) -> None:
        # Called as each episode finishes; its calls are in the DB by then.
        if not at_kill and progress.done >= 6:
            at_kill.update(per_deployment(db))
            server_b.stop(kill=True)  # SIGKILL: calls in flight there are cut off

    result = await run_experiment(cfg, questions=questions, progress=kill_b_midway)
    assert at_kill, "the run ended before deployment b was stopped"
    assert server_b.proc.returncode is not None

    # Nothing lost: every episode complete, every call answered (5 questions x 4 episodes, 8 calls each).
    assert (result.total, result.completed, result.errors) == (20, 20, 0)
    con = sqlite3.connect(db)
    assert con.execute("select count(*), count(error) from model_calls").fetchone() == (40, 0)
    assert con.execute("select count(*) from verdicts").fetchone() == (20,)
    final = per_deployment(db)
    assert set(final) == {"a", "b"} and sum(final.values()) == 40
    assert at_kill["a"] >= 2 and at_kill["b"] >= 2  # both served before the stop
    assert final["b"] <= at_kill["b"] + 2  # after it, b finished at most the calls it held; a took the rest
