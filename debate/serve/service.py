"""What one request asks of the local backend, independent of HTTP: resolve the model id, route
if asked, generate, and compute logprobs when asked.

Concurrent requests are batched by the backend itself (its batcher gathers every queued call of
the same kind and prefix), so the service just awaits; nothing here serialises requests.

Logprobs are computed after generation in one teacher-forced pass over the reply
(``LocalBackend.token_logprobs``): the true top-k of every position, whatever sampled the reply.
This is what lets a logprob judge score option letters through litellm (``top_logprobs=20``,
``max_tokens=1``) against ``debate serve`` exactly as against OpenAI or vLLM.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from typing import Any, Protocol

from debate.experts.backend import GenerateRequest, Generation
from debate.serve.catalog import Catalog, Target
from debate.serve.errors import context_exceeded
from debate.serve.logprobs import Position
from debate.serve.routed import RoutedModel, RoutingHint
from debate.serve.schemas import Sampling


class ServedBackend(Protocol):
    name: str

    async def generate(self, request: GenerateRequest) -> Generation: ...

    async def token_logprobs(self, prompt: str, text: str, k: int, *, prefix: str = "", adapter: str | None = None) -> list[Position]: ...


@dataclass
class Answer:
    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    logprobs: list[Position] | None = None
    adapter: str | None = None
    routing: dict[str, Any] | None = None


class Service:
    def __init__(self, backend: ServedBackend, catalog: Catalog, *, routed: RoutedModel | None = None,
                 default_max_tokens: int = 256) -> None:
        self.backend = backend
        self.catalog = catalog
        self.routed = routed
        self.default_max_tokens = default_max_tokens

    def resolve(self, model: str) -> Target:
        return self.catalog.resolve(model)

    async def answer(self, target: Target, prompt: str, sampling: Sampling, top_logprobs: int | None, *, param: str,
                     hint: RoutingHint | None = None) -> Answer:
        """One completion; ``param`` names the request field holding the prompt (for errors)."""
        adapter, routing = target.adapter, None
        if target.routed:
            assert self.routed is not None  # the catalog offers "routed" only with a router
            adapter, routing = await self.routed.choose(prompt, hint)
        seed = sampling.seed
        if seed is None and sampling.temperature > 0:
            seed = secrets.randbits(63)  # unseeded sampling varies, as OpenAI's does; a seed makes it repeatable
        request = GenerateRequest(prompt=prompt, max_tokens=sampling.max_tokens, temperature=sampling.temperature,
                                  stop=sampling.stop, seed=seed, adapter=adapter)
        try:
            gen = await self.backend.generate(request)
            positions = None
            if top_logprobs is not None:
                positions = await self.backend.token_logprobs(prompt, gen.text, top_logprobs, adapter=adapter)
        except Exception as exc:
            if _is_context_exceeded(exc):
                window = getattr(getattr(self.backend, "engine", None), "context_window", None)
                raise context_exceeded(str(exc), param, window) from None
            raise
        return Answer(text=gen.text, finish_reason=gen.finish_reason, prompt_tokens=gen.usage.prompt_tokens,
                      completion_tokens=gen.usage.completion_tokens, logprobs=positions, adapter=adapter, routing=routing)

    async def answer_all(self, target: Target, prompts: list[str], sampling: Sampling, top_logprobs: int | None,
                         hint: RoutingHint | None = None) -> list[Answer]:
        """Several prompts in one request (``/v1/completions``): submitted together, so they batch."""
        return list(await asyncio.gather(*(self.answer(target, p, sampling, top_logprobs, param="prompt", hint=hint) for p in prompts)))


def _is_context_exceeded(exc: BaseException) -> bool:
    from debate.experts.local.engine import ContextExceeded

    return isinstance(exc, ContextExceeded)
