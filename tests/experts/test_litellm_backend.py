"""LiteLLMBackend against a real OpenAI-compatible HTTP server on 127.0.0.1 (no internet)."""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm  # noqa: E402
import pytest  # noqa: E402

from debate.core.usage import Usage  # noqa: E402
from debate.experts.backend import Backend, GenerateRequest, ScoreRequest  # noqa: E402
from debate.experts.litellm_backend import LiteLLMBackend, is_transient  # noqa: E402


@dataclass
class Reply:
    status: int = 200
    body: dict[str, Any] | None = None
    delay_s: float = 0.0


@dataclass
class FakeOpenAI:
    """Scripted replies, popped one per request; every request body and auth header is kept."""

    port: int = 0
    script: list[Reply] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    auth: list[str] = field(default_factory=list)

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


def completion(
    content: str | None = "Hello there.",
    finish_reason: str = "stop",
    prompt_tokens: int = 11,
    completion_tokens: int = 3,
    top_logprobs: list[tuple[str, float]] | None = None,
) -> dict[str, Any]:
    choice: dict[str, Any] = {
        "index": 0,
        "message": {"role": "assistant", "content": content},
        "finish_reason": finish_reason,
    }
    if top_logprobs is not None:
        first = top_logprobs[0]
        choice["logprobs"] = {
            "content": [
                {
                    "token": first[0],
                    "logprob": first[1],
                    "bytes": None,
                    "top_logprobs": [{"token": t, "logprob": lp, "bytes": None} for t, lp in top_logprobs],
                }
            ]
        }
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "whatever",
        "choices": [choice],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def error(status: int, message: str = "boom") -> Reply:
    return Reply(status=status, body={"error": {"message": message, "type": "test_error", "code": status}})


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            fake.requests.append({"path": self.path, **body})
            fake.auth.append(self.headers.get("Authorization", ""))
            reply = fake.script.pop(0) if fake.script else Reply(body=completion())
            if reply.delay_s:
                time.sleep(reply.delay_s)
            payload = json.dumps(reply.body or {}).encode()
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    fake.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        httpd.shutdown()
        httpd.server_close()


def backend(server: FakeOpenAI, **kwargs: Any) -> LiteLLMBackend:
    params: dict[str, Any] = {"wait_initial_s": 0.001, "wait_max_s": 0.01, "timeout_s": 5}
    params.update(kwargs)
    return LiteLLMBackend("openai/whatever", api_base=server.api_base, api_key="sk-test", **params)


async def test_generate_returns_text_usage_and_sends_the_request(server: FakeOpenAI) -> None:
    server.script.append(Reply(body=completion("B, because the quote checks out.", "stop", 42, 7)))
    b = backend(server)
    request = GenerateRequest(
        prefix="PASSAGE\n", prompt="Which?", max_tokens=33, temperature=0.5, stop=["\n\n"], seed=7
    )

    gen = await b.generate(request)

    assert gen.text == "B, because the quote checks out."
    assert gen.usage == Usage(prompt_tokens=42, completion_tokens=7)
    assert gen.finish_reason == "stop"
    assert len(server.requests) == 1
    sent = server.requests[0]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["model"] == "whatever"
    assert sent["messages"] == [{"role": "user", "content": "PASSAGE\nWhich?"}]
    assert sent["max_tokens"] == 33
    assert sent["temperature"] == 0.5
    assert sent["stop"] == ["\n\n"]
    assert sent["seed"] == 7
    assert server.auth == ["Bearer sk-test"]


async def test_finish_reason_length_when_cut(server: FakeOpenAI) -> None:
    server.script.append(Reply(body=completion("The passage says", "length", 5, 4)))
    gen = await backend(server).generate(GenerateRequest(prompt="Go", max_tokens=4))
    assert (gen.text, gen.finish_reason, gen.usage.completion_tokens) == ("The passage says", "length", 4)


async def test_content_none_is_empty_text(server: FakeOpenAI) -> None:
    server.script.append(Reply(body=completion(None, "stop", 5, 0)))
    gen = await backend(server).generate(GenerateRequest(prompt="Go"))
    assert gen.text == ""


async def test_optional_params_are_left_out(server: FakeOpenAI) -> None:
    await backend(server).generate(GenerateRequest(prompt="Go"))
    assert "stop" not in server.requests[0]
    assert "seed" not in server.requests[0]


async def test_extra_params_are_forwarded(server: FakeOpenAI) -> None:
    await backend(server, extra={"top_p": 0.25}).generate(GenerateRequest(prompt="Go"))
    assert server.requests[0]["top_p"] == 0.25


async def test_score_reads_first_token_top_logprobs(server: FakeOpenAI) -> None:
    top = [("B", -0.25), (" A", -1.5), ("d", -3.0), ("Because", -4.0), ("b", -6.0)]
    server.script.append(Reply(body=completion("B", "length", 20, 1, top_logprobs=top)))
    b = backend(server)

    scores = await b.score(ScoreRequest(prefix="P\n", prompt="Answer:", continuations=["A", " B", "C", "D", "b", ""]))

    assert scores.logprobs == [-1.5, -0.25, float("-inf"), -3.0, -6.0, float("-inf")]
    assert scores.usage == Usage(prompt_tokens=20, completion_tokens=1)
    sent = server.requests[0]
    assert sent["messages"] == [{"role": "user", "content": "P\nAnswer:"}]
    assert (sent["logprobs"], sent["top_logprobs"], sent["max_tokens"]) == (True, 20, 1)


async def test_score_sums_whitespace_variants_of_one_token(server: FakeOpenAI) -> None:
    top = [("A", -0.5), (" A", -1.0), ("B", -2.0)]
    server.script.append(Reply(body=completion("A", "length", 3, 1, top_logprobs=top)))
    scores = await backend(server).score(ScoreRequest(prompt="Answer:", continuations=["A", "B"]))
    assert scores.logprobs[0] == pytest.approx(math.log(math.exp(-0.5) + math.exp(-1.0)))
    assert scores.logprobs[1] == -2.0


async def test_score_without_logprobs_is_minus_inf(server: FakeOpenAI) -> None:
    server.script.append(Reply(body=completion("A", "length", 3, 1)))
    scores = await backend(server).score(ScoreRequest(prompt="Answer:", continuations=["A", "B"]))
    assert scores.logprobs == [float("-inf"), float("-inf")]


async def test_retries_500_then_succeeds(server: FakeOpenAI) -> None:
    server.script += [error(500), error(500), Reply(body=completion("ok"))]
    gen = await backend(server, max_retries=3).generate(GenerateRequest(prompt="Go"))
    assert gen.text == "ok"
    assert len(server.requests) == 3
    assert gen.meta["attempts"] == 3


async def test_retries_429_and_503(server: FakeOpenAI) -> None:
    server.script += [error(429, "slow down"), error(503), Reply(body=completion("ok"))]
    gen = await backend(server, max_retries=3).generate(GenerateRequest(prompt="Go"))
    assert gen.text == "ok"
    assert len(server.requests) == 3


async def test_gives_up_after_max_retries_attempts(server: FakeOpenAI) -> None:
    server.script += [error(500), error(500), error(500), Reply(body=completion("too late"))]
    with pytest.raises(litellm.InternalServerError):
        await backend(server, max_retries=3).generate(GenerateRequest(prompt="Go"))
    assert len(server.requests) == 3


@pytest.mark.parametrize(
    ("status", "exc"),
    [(400, litellm.BadRequestError), (401, litellm.AuthenticationError), (404, litellm.NotFoundError)],
)
async def test_client_errors_raise_without_retry(server: FakeOpenAI, status: int, exc: type[Exception]) -> None:
    server.script += [error(status), Reply(body=completion("never"))]
    with pytest.raises(exc):
        await backend(server, max_retries=3).generate(GenerateRequest(prompt="Go"))
    assert len(server.requests) == 1


async def test_timeout_is_retried(server: FakeOpenAI) -> None:
    server.script += [Reply(body=completion("slow"), delay_s=1.0), Reply(body=completion("fast"))]
    gen = await backend(server, timeout_s=0.3, max_retries=2).generate(GenerateRequest(prompt="Go"))
    assert gen.text == "fast"
    assert len(server.requests) == 2


def test_is_transient_classifies_status_codes() -> None:
    class Status(Exception):
        def __init__(self, status_code: int) -> None:
            self.status_code = status_code

    assert [is_transient(Status(s)) for s in (400, 401, 404, 408, 429, 500, 502)] == [
        False, False, False, True, True, True, True,
    ]
    assert not is_transient(ValueError("bug"))


def test_cost_unknown_model_is_zero_and_known_model_uses_price_table() -> None:
    usage = Usage(prompt_tokens=1000, completion_tokens=500)
    assert LiteLLMBackend("openai/whatever").cost(usage) == 0.0
    assert LiteLLMBackend("hosted_vllm/my-local-model", api_base="http://127.0.0.1:1/v1").cost(usage) == 0.0
    prompt, completion_cost = litellm.cost_per_token(model="gpt-4o-mini", prompt_tokens=1000, completion_tokens=500)
    priced = LiteLLMBackend("gpt-4o-mini").cost(usage)
    assert priced == prompt + completion_cost
    assert priced > 0


def test_is_a_backend_and_hides_the_key() -> None:
    b = LiteLLMBackend("openai/whatever", api_key="sk-secret-123")
    assert isinstance(b, Backend)
    assert b.name == "openai/whatever"
    assert "sk-secret-123" not in repr(b)
    assert "sk-secret-123" not in str(vars(b).get("api_key", ""))
