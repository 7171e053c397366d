"""The HTTP surface of ``debate serve``: OpenAI shapes and values, errors, and that a bad request
never stops the server (a good one is answered after each)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from debate.experts.backend import GenerateRequest
from tests.serve.conftest import CONTEXT, KEY, MODEL_ID, Server

AUTH = {"Authorization": f"Bearer {KEY}"}
PROMPT = "The keeper counted ships. Answer:"


def post(server: Server, path: str, body: object, headers: dict[str, str] | None = None) -> httpx.Response:
    kw = {"content": body} if isinstance(body, (str, bytes)) else {"json": body}
    return httpx.post(f"{server.api_base}{path}", headers={**AUTH, "content-type": "application/json", **(headers or {})},
                      timeout=60, **kw)


def chat(prompt: str = PROMPT, **extra: object) -> dict[str, object]:
    return {"model": MODEL_ID, "messages": [{"role": "user", "content": prompt}], "max_tokens": 3, "temperature": 0, **extra}


def assert_error(resp: httpx.Response, status: int, code: str | None, param: str | None) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    err = body["error"]
    assert (err["code"], err["param"]) == (code, param)
    assert err["type"] == "invalid_request_error" and err["message"]
    return err["message"]


def still_serving(server: Server) -> None:
    resp = post(server, "/chat/completions", chat())
    assert resp.status_code == 200 and resp.json()["choices"][0]["message"]["content"]


def test_models_lists_the_base_model_its_experts_and_routed(server_a: Server) -> None:
    resp = httpx.get(f"{server_a.api_base}/models", headers=AUTH)
    assert resp.status_code == 200
    assert [(m["id"], m["object"], m["parent"]) for m in resp.json()["data"]] == [
        (MODEL_ID, "model", None), ("logic", "model", MODEL_ID), ("medical", "model", MODEL_ID), ("routed", "model", MODEL_ID)]
    assert httpx.get(f"{server_a.api_base}/models/{MODEL_ID}", headers=AUTH).json()["id"] == MODEL_ID


async def test_chat_reply_and_logprobs_are_the_models(server_a: Server, tiny_backend) -> None:
    resp = post(server_a, "/chat/completions", chat(max_tokens=4, logprobs=True, top_logprobs=5))
    assert resp.status_code == 200
    body = resp.json()
    assert body["object"] == "chat.completion" and body["model"] == MODEL_ID
    choice = body["choices"][0]
    local = await tiny_backend.generate(GenerateRequest(prompt=PROMPT, max_tokens=4, temperature=0))
    assert choice["message"] == {"role": "assistant", "content": local.text}
    assert choice["finish_reason"] == local.finish_reason == "length"
    assert body["usage"] == {"prompt_tokens": len(PROMPT) + 1, "completion_tokens": 4, "total_tokens": len(PROMPT) + 5}
    expected = tiny_backend.engine.token_logprobs("", PROMPT, local.text, 5)
    content = choice["logprobs"]["content"]
    assert [c["token"] for c in content] == list(local.text) == [e[0] for e in expected]
    for got, (tok, lp, top) in zip(content, expected):
        assert got["logprob"] == pytest.approx(lp, abs=1e-5)
        assert got["bytes"] == list(tok.encode())
        assert [t["token"] for t in got["top_logprobs"]] == [t for t, _ in top]
        assert [t["logprob"] for t in got["top_logprobs"]] == pytest.approx([v for _, v in top], abs=1e-5)
    # Greedy decoding picks the most likely token, so each chosen token heads its own top list.
    assert all(c["top_logprobs"][0]["token"] == c["token"] for c in content)


async def test_completions_batch_prompts_with_legacy_logprobs(server_a: Server, tiny_backend) -> None:
    prompts = ["Ships:", "Gull Rock"]
    resp = post(server_a, "/completions", {"model": MODEL_ID, "prompt": prompts, "max_tokens": 3, "temperature": 0, "logprobs": 2})
    assert resp.status_code == 200
    body = resp.json()
    assert body["object"] == "text_completion" and [c["index"] for c in body["choices"]] == [0, 1]
    for prompt, choice in zip(prompts, body["choices"]):
        local = await tiny_backend.generate(GenerateRequest(prompt=prompt, max_tokens=3, temperature=0))
        assert choice["text"] == local.text
        lp = choice["logprobs"]
        assert lp["tokens"] == list(local.text)
        assert lp["text_offset"] == [len(prompt), len(prompt) + 1, len(prompt) + 2]
        expected = tiny_backend.engine.token_logprobs("", prompt, local.text, 2)
        assert lp["token_logprobs"] == pytest.approx([e[1] for e in expected], abs=1e-5)
        assert [list(d) for d in lp["top_logprobs"]] == [[t for t, _ in e[2]] for e in expected]
    assert body["usage"]["prompt_tokens"] == len(prompts[0]) + len(prompts[1]) + 2


def test_seeded_sampling_is_reproducible_and_stop_strings_cut(server_a: Server) -> None:
    one = post(server_a, "/chat/completions", chat(max_tokens=12, temperature=1.0, seed=7)).json()
    two = post(server_a, "/chat/completions", chat(max_tokens=12, temperature=1.0, seed=7)).json()
    text = one["choices"][0]["message"]["content"]
    assert text == two["choices"][0]["message"]["content"] and len(text) >= 6
    stop = text[5]
    cut = post(server_a, "/chat/completions", chat(max_tokens=12, temperature=1.0, seed=7, stop=[stop])).json()["choices"][0]
    lead = len(text) - len(text.lstrip())  # leading whitespace never stops a reply
    assert cut["message"]["content"] == text[: text.index(stop, lead)]
    assert cut["finish_reason"] == "stop"


async def test_concurrent_requests_are_batched(server_a: Server) -> None:
    before = httpx.get(f"{server_a.base}/health").json()["batching"]
    async with httpx.AsyncClient(headers=AUTH, timeout=60) as client:
        replies = await asyncio.gather(*(
            client.post(f"{server_a.api_base}/chat/completions", json=chat(f"Question {i}:", max_tokens=6)) for i in range(8)
        ))
    assert [r.status_code for r in replies] == [200] * 8
    after = httpx.get(f"{server_a.base}/health").json()["batching"]
    requests, batches = after["requests"] - before["requests"], after["batches"] - before["batches"]
    assert requests == 8 and batches < 8  # several requests shared a forward pass


def test_unknown_model_is_404(server_a: Server) -> None:
    msg = assert_error(post(server_a, "/chat/completions", chat() | {"model": "gpt-5"}), 404, "model_not_found", "model")
    assert "`gpt-5`" in msg
    assert_error(httpx.get(f"{server_a.api_base}/models/gpt-5", headers=AUTH), 404, "model_not_found", "model")
    assert_error(post(server_a, "/chat/completions", chat() | {"model": "@token"}), 404, "model_not_found", "model")
    still_serving(server_a)


def test_malformed_json_is_400(server_a: Server) -> None:
    msg = assert_error(post(server_a, "/chat/completions", '{"model": "tiny", "messages": [}'), 400, "invalid_json", None)
    assert "could not parse the JSON body" in msg
    assert_error(post(server_a, "/completions", b"\xff\xfe"), 400, "invalid_json", None)
    still_serving(server_a)


def test_invalid_fields_name_the_parameter(server_a: Server) -> None:
    assert_error(post(server_a, "/chat/completions", {"model": MODEL_ID}), 400, "invalid_value", "messages")
    assert_error(post(server_a, "/chat/completions", chat(temperature=5)), 400, "invalid_value", "temperature")
    assert_error(post(server_a, "/chat/completions", chat(top_logprobs=3)), 400, "invalid_value", "top_logprobs")
    assert_error(post(server_a, "/chat/completions", chat(top_logprobs=21, logprobs=True)), 400, "invalid_value", "top_logprobs")
    assert_error(post(server_a, "/chat/completions", chat(n=2)), 400, "unsupported_parameter", "n")
    assert_error(post(server_a, "/chat/completions", chat(stream=True)), 400, "unsupported_parameter", "stream")
    assert_error(post(server_a, "/completions", {"model": MODEL_ID, "prompt": "x", "echo": True}), 400, "unsupported_parameter", "echo")
    assert_error(post(server_a, "/chat/completions", chat(seed=10**23)), 400, "invalid_value", "seed")
    assert_error(post(server_a, "/chat/completions", chat(tools=[{"type": "function"}])), 400, "unsupported_parameter", "tools")
    assert_error(post(server_a, "/chat/completions", chat(response_format={"type": "json_object"})), 400,
                 "unsupported_parameter", "response_format")
    assert_error(post(server_a, "/chat/completions", chat(logit_bias={"5": 10})), 400, "unsupported_parameter", "logit_bias")
    assert_error(post(server_a, "/chat/completions", chat(stop=["a", "b", "c", "d", "e"])), 400, "invalid_value", "stop")
    assert_error(post(server_a, "/chat/completions", {"model": MODEL_ID, "messages": [{"role": "user"}]}), 400,
                 "invalid_value", "messages.0")
    still_serving(server_a)


async def test_a_bad_request_never_fails_the_others_in_its_batch(server_a: Server) -> None:
    async with httpx.AsyncClient(headers=AUTH, timeout=60) as client:
        replies = await asyncio.gather(
            *(client.post(f"{server_a.api_base}/chat/completions", json=chat(f"Q{i}:", max_tokens=8)) for i in range(3)),
            client.post(f"{server_a.api_base}/chat/completions", json=chat("Q9:", seed=2**64 + 5)),
        )
    assert [r.status_code for r in replies] == [200, 200, 200, 400]
    assert replies[3].json()["error"]["param"] == "seed"


def test_unseeded_sampling_varies_and_seeded_repeats(server_a: Server) -> None:
    texts = {post(server_a, "/chat/completions", chat(max_tokens=12, temperature=1.0)).json()["choices"][0]["message"]["content"]
             for _ in range(3)}
    assert len(texts) > 1  # 12 sampled characters of a random model: equal thrice only if seeds repeat


def test_prompt_past_the_context_window_is_400(server_a: Server) -> None:
    long = "x" * CONTEXT
    msg = assert_error(post(server_a, "/chat/completions", chat(long)), 400, "context_length_exceeded", "messages")
    assert msg.startswith(f"This model's maximum context length is {CONTEXT} tokens")
    assert f"prompt is {CONTEXT + 1} tokens" in msg
    assert_error(post(server_a, "/completions", {"model": MODEL_ID, "prompt": long}), 400, "context_length_exceeded", "prompt")
    # It fits, but not with the tokens asked for.
    fits = "x" * (CONTEXT - 10)
    assert_error(post(server_a, "/chat/completions", chat(fits, max_tokens=20)), 400, "context_length_exceeded", "messages")
    still_serving(server_a)


async def test_litellm_reads_the_context_error_as_context_window_exceeded(server_a: Server) -> None:
    from debate.experts.litellm_backend import LiteLLMBackend, _litellm

    backend = LiteLLMBackend(f"openai/{MODEL_ID}", api_base=server_a.api_base, api_key=KEY, max_retries=1)
    with pytest.raises(_litellm().ContextWindowExceededError):
        await backend.generate(GenerateRequest(prompt="x" * CONTEXT, max_tokens=4))


def test_bad_or_missing_api_key_is_401(server_a: Server) -> None:
    for headers in ({"Authorization": "Bearer sk-wrong"}, {"Authorization": ""}, {"Authorization": f"Basic {KEY}"}):
        resp = post(server_a, "/chat/completions", chat(), headers=headers)
        assert_error(resp, 401, "invalid_api_key", None)
        assert resp.headers["www-authenticate"] == "Bearer"
    # Checked before the body is read: a caller without the key learns nothing about its JSON.
    assert_error(post(server_a, "/chat/completions", "{not json", headers={"Authorization": "Bearer nope"}), 401, "invalid_api_key", None)
    assert_error(httpx.get(f"{server_a.api_base}/models"), 401, "invalid_api_key", None)
    assert httpx.get(f"{server_a.base}/health").status_code == 200  # probes need no key
    still_serving(server_a)


def test_unknown_route_and_method(server_a: Server) -> None:
    resp = httpx.get(f"{server_a.api_base}/embeddings", headers=AUTH)
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"
    resp = httpx.get(f"{server_a.api_base}/chat/completions", headers=AUTH)
    assert resp.status_code == 405 and resp.json()["error"]["code"] == "method_not_allowed"
    still_serving(server_a)
