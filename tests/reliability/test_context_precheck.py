"""A hosted model's context window is checked before any request is sent."""

from __future__ import annotations

import pytest

from debate.experts.backend import GenerateRequest
from debate.experts.litellm_backend import LiteLLMBackend


async def test_too_long_prompt_is_refused_before_any_request():
    import litellm

    backend = LiteLLMBackend("gpt-4o-mini", api_base="http://127.0.0.1:9/v1", api_key="sk-test", max_retries=3)
    window = backend.context_window()
    assert window is not None and window >= 100_000
    prompt = "word " * (window + 1000)
    with pytest.raises(litellm.ContextWindowExceededError, match=f"accepts {window}"):
        await backend.generate(GenerateRequest(prompt=prompt, max_tokens=8))
    # Nothing listens on port 9: a request would have raised a connection error instead.


async def test_unknown_models_are_not_prechecked():
    assert LiteLLMBackend("openai/my-local-vllm-model").context_window() is None
