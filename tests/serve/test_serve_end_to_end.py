"""A debate experiment through litellm against a real ``debate serve`` over HTTP, read back from
the run's database, and every stored reply checked against the same weights run in process."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from debate.config import ModelSpec, ProtocolSpec, RunConfig
from debate.experts.backend import GenerateRequest
from debate.experts.litellm_backend import TOP_LOGPROBS, _match_logprob
from debate.orchestrator import run_experiment
from debate.protocols.prompts import STOPS
from tests.helpers import question
from tests.serve.conftest import KEY_ENV, MODEL_ID, Server


def served(server: Server) -> ModelSpec:
    return ModelSpec(backend="litellm", model=f"openai/{MODEL_ID}", api_base=server.api_base, api_key_env=KEY_ENV, max_retries=1)


async def test_debate_run_through_litellm_against_debate_serve(server_a: Server, tiny_backend, tmp_path: Path) -> None:
    db = tmp_path / "served.sqlite"
    cfg = RunConfig(
        name="served", db=str(db), expert="served", judge="served", both_orders=False, speech_tokens=5,
        models={"served": served(server_a)},
        protocols=[ProtocolSpec(name="direct_blind"), ProtocolSpec(name="consultancy", params={"rounds": 1}),
                   ProtocolSpec(name="debate", params={"rounds": 1})],
    )
    result = await run_experiment(cfg, questions=[question("q1", gold=1), question("q2", gold=0)])
    # per question: blind, consultancy on each side, debate
    assert (result.total, result.completed, result.errors) == (8, 8, 0)

    con = sqlite3.connect(db)
    assert con.execute("select status, count(*) from episodes group by status").fetchall() == [("complete", 8)]
    assert con.execute("select count(*) from verdicts").fetchone() == (8,)
    calls = con.execute("select purpose, prompt, reply, params_json, error, prompt_tokens, completion_tokens from model_calls").fetchall()
    by_purpose = {p: sum(1 for c in calls if c[0] == p) for p in ("generate", "score")}
    assert by_purpose == {"generate": 8, "score": 8}  # consultancy 1 + debate 2 speeches, per question x2; judges 4 x2
    engine = tiny_backend.engine
    finite = 0
    for purpose, prompt, reply, params_json, error, n_prompt, n_out in calls:
        params = json.loads(params_json)
        assert error is None
        assert n_prompt == len(prompt) + 1  # character tokens plus BOS, as counted by the server
        if purpose == "generate":
            # The same request in process, same seed: the served reply is the model's, byte for byte.
            local = await tiny_backend.generate(GenerateRequest(
                prompt=prompt, max_tokens=params["max_tokens"], temperature=params["temperature"], seed=params["seed"], stop=STOPS,
            ))
            assert reply == local.text and n_out == local.usage.completion_tokens
        else:
            # The judge's letters scored from the server's top-20 logprobs equal the local top-20's.
            top = [(tok, lp) for tok, lp in engine.token_logprobs("", prompt, "", TOP_LOGPROBS)[0][2]]
            expected = [_match_logprob(c, top) for c in params["continuations"]]
            got = params["logprobs"]
            assert len(got) == len(expected)
            for g, e in zip(got, expected):
                assert (g == e) if e == float("-inf") else abs(g - e) < 1e-4, (got, expected)
            finite += sum(1 for e in expected if e != float("-inf"))
    assert finite >= 1  # some letter was among the top 20 (not "absent" on every side); api tests compare whole lists
