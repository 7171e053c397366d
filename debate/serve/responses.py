"""Response bodies in OpenAI's shapes (chat.completion, text_completion)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from debate.serve.logprobs import chat_logprobs, completion_logprobs
from debate.serve.service import Answer


def _usage(answers: list[Answer]) -> dict[str, int]:
    prompt = sum(a.prompt_tokens for a in answers)
    completion = sum(a.completion_tokens for a in answers)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _extras(answers: list[Answer]) -> dict[str, Any]:
    """Top-level fields OpenAI clients ignore: the routing decision of a ``model=routed`` request."""
    routing = [a.routing for a in answers if a.routing is not None]
    if not routing:
        return {}
    return {"routing": routing[0] if len(answers) == 1 else routing}


def chat_body(model: str, answer: Answer) -> dict[str, Any]:
    choice = {
        "index": 0,
        "message": {"role": "assistant", "content": answer.text},
        "logprobs": chat_logprobs(answer.logprobs) if answer.logprobs is not None else None,
        "finish_reason": answer.finish_reason,
    }
    return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
            "model": model, "system_fingerprint": None, "choices": [choice], "usage": _usage([answer]), **_extras([answer])}


def completion_body(model: str, prompts: list[str], answers: list[Answer]) -> dict[str, Any]:
    choices = [
        {"index": i, "text": a.text, "finish_reason": a.finish_reason,
         "logprobs": completion_logprobs(a.logprobs, p) if a.logprobs is not None else None}
        for i, (p, a) in enumerate(zip(prompts, answers))
    ]
    return {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", "created": int(time.time()),
            "model": model, "system_fingerprint": None, "choices": choices, "usage": _usage(answers), **_extras(answers)}
