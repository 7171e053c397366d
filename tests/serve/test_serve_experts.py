"""Experts over HTTP: ``model=<expert>`` answers with that LoRA expert, ``model=routed`` lets the
server's centroid router pick one and returns its decision; both checked against the same
library run in process."""

from __future__ import annotations

import httpx
import pytest

from debate.experts.backend import GenerateRequest
from debate.experts.routing import make_router
from debate.serve.routed import RoutingHint, routing_question
from tests.serve.conftest import KEY, MODEL_ID, Server

AUTH = {"Authorization": f"Bearer {KEY}"}
PROMPT = "Which organ filters the blood? Answer:"


def chat(server: Server, model: str, prompt: str = PROMPT, **extra: object) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": 5, "temperature": 0, **extra}
    return httpx.post(f"{server.api_base}/chat/completions", json=body, headers=AUTH, timeout=60)


async def test_model_named_after_an_expert_answers_with_that_expert(server_a: Server, tiny_backend) -> None:
    answers = {}
    for model, adapter in ((MODEL_ID, None), ("medical", "medical"), ("logic", "logic")):
        resp = chat(server_a, model, logprobs=True, top_logprobs=3)
        assert resp.status_code == 200, resp.text
        choice = resp.json()["choices"][0]
        local = await tiny_backend.generate(GenerateRequest(prompt=PROMPT, max_tokens=5, temperature=0, adapter=adapter))
        assert choice["message"]["content"] == local.text
        expected = tiny_backend.engine.token_logprobs("", PROMPT, local.text, 3, adapter)
        got = choice["logprobs"]["content"]
        assert [c["logprob"] for c in got] == pytest.approx([e[1] for e in expected], abs=1e-5)
        assert [[t["token"] for t in c["top_logprobs"]] for c in got] == [[t for t, _ in e[2]] for e in expected]
        answers[model] = [c["logprob"] for c in got]
    # The adapters change the model: no two of base, medical and logic give the same logprobs.
    assert answers[MODEL_ID] != pytest.approx(answers["medical"]) and answers["medical"] != pytest.approx(answers["logic"])


@pytest.mark.parametrize("hint", [None, RoutingHint(question="Which organ filters the blood?", options=["Liver", "Kidney"], domain="medical")])
async def test_routed_model_routes_answers_and_returns_the_decision(server_a: Server, tiny_backend, hint: RoutingHint | None) -> None:
    extra = {} if hint is None else {"routing": hint.model_dump()}
    resp = chat(server_a, "routed", **extra)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["model"] == "routed"
    # The same centroid router in process, embedding with the same base model.
    router = make_router("centroid", embed=tiny_backend.embed)
    decision = await router.route(routing_question(PROMPT, hint), tiny_backend.expert_manifests(), 1)
    routing = body["routing"]
    assert routing["router"] == "centroid" and routing["k"] == 1
    assert routing["chosen"] == decision.chosen and len(decision.chosen) == 1
    assert routing["scores"] == pytest.approx(decision.scores, abs=1e-5)
    assert set(routing["scores"]) == {"logic", "medical"}
    local = await tiny_backend.generate(GenerateRequest(prompt=PROMPT, max_tokens=5, temperature=0, adapter=decision.top))
    assert body["choices"][0]["message"]["content"] == local.text


def test_a_bad_routing_hint_is_400(server_a: Server) -> None:
    resp = chat(server_a, "routed", routing={"question": "Q?", "options": ["only one"]})
    assert resp.status_code == 400
    assert resp.json()["error"]["param"] == "routing" and "needs 2 to 10 options" in resp.json()["error"]["message"]
    resp = chat(server_a, "routed", routing={"question": "Q?", "colour": "red"})
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "routing.colour"
    assert chat(server_a, "routed").status_code == 200


async def test_litellm_client_reaches_an_expert_by_adapter(server_a: Server, tiny_backend) -> None:
    from debate.experts.litellm_backend import LiteLLMBackend

    backend = LiteLLMBackend(f"openai/{MODEL_ID}", api_base=server_a.api_base, api_key=KEY, max_retries=1)
    request = GenerateRequest(prompt=PROMPT, max_tokens=5, temperature=0, adapter="logic")
    remote, local = await backend.generate(request), await tiny_backend.generate(request)
    assert remote.text == local.text
    base = await tiny_backend.generate(request.model_copy(update={"adapter": None}))
    assert remote.text != base.text or remote.text == ""  # (the expert's greedy reply, not the base model's)
