"""Wraps a backend for one episode and role so every call is recorded as it happens."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from debate.core.usage import CallRecord, Usage
from debate.experts.limits import QUEUE_WAIT
from debate.experts.backend import Backend, GenerateRequest, Generation, ScoreRequest, Scores

OnCall = Callable[[CallRecord], Awaitable[None]]


class RecordingBackend:
    def __init__(self, inner: Backend, role: str, on_call: OnCall) -> None:
        self.inner = inner
        self.name = inner.name
        self.role = role
        self.on_call = on_call

    async def generate(self, request: GenerateRequest) -> Generation:
        request = request.model_copy(update={"role": self.role})
        t0 = time.perf_counter()
        QUEUE_WAIT.set(0.0)
        try:
            gen = await self.inner.generate(request)
        except Exception as exc:
            await self._record("generate", request.full_prompt, "", Usage(), t0, error=f"{type(exc).__name__}: {exc}",
                               params={**_gen_params(request), **_retries(getattr(exc, "retry_meta", None)), "cache_hit": False})
            raise
        await self._record("generate", request.full_prompt, gen.text, gen.usage, t0,
                           params={**_gen_params(request), **_served_adapter(request.adapter, gen.meta),
                                   "finish_reason": gen.finish_reason, **_retries(gen.meta),
                                   "cache_hit": _hit(gen.meta)})
        return gen

    async def score(self, request: ScoreRequest) -> Scores:
        request = request.model_copy(update={"role": self.role})
        t0 = time.perf_counter()
        QUEUE_WAIT.set(0.0)
        try:
            scores = await self.inner.score(request)
        except Exception as exc:
            await self._record("score", request.full_prompt, "", Usage(), t0, error=f"{type(exc).__name__}: {exc}",
                               params={"continuations": request.continuations, **_retries(getattr(exc, "retry_meta", None)),
                                       "cache_hit": False})
            raise
        reply = " ".join(f"{c.strip()}={lp:.4f}" for c, lp in zip(request.continuations, scores.logprobs))
        await self._record("score", request.full_prompt, reply, scores.usage, t0,
                           params={"continuations": request.continuations, "logprobs": scores.logprobs,
                                   **({"adapter": request.adapter} if request.adapter else {}),
                                   **_retries(getattr(scores, "meta", None)), "cache_hit": _hit(getattr(scores, "meta", None))})
        return scores

    def cost(self, usage: Usage) -> float:
        return self.inner.cost(usage)

    async def _record(self, purpose: str, prompt: str, reply: str, usage: Usage, t0: float, *, error: str | None = None, params: dict | None = None) -> None:
        # Latency is the model's time: the wait for a free connection or the rate limit is kept apart.
        queued = QUEUE_WAIT.get()
        # A cache hit spent nothing: its usage is the original call's, its cost is zero.
        cost = 0.0 if (params or {}).get("cache_hit") else self.inner.cost(usage)
        await self.on_call(CallRecord(
            model=self.name, purpose=purpose, role=self.role, prompt=prompt, reply=reply, usage=usage,
            latency_s=max(0.0, time.perf_counter() - t0 - queued), cost_usd=cost, error=error,
            params={**(params or {}), "queue_s": round(queued, 4)},
        ))


def _gen_params(r: GenerateRequest) -> dict:
    out = {"max_tokens": r.max_tokens, "temperature": r.temperature, "seed": r.seed, "prefix_chars": len(r.prefix)}
    return {**out, "adapter": r.adapter} if r.adapter else out


def _served_adapter(requested: str | None, meta: object) -> dict:
    """The expert that answered when the model chose it (its default ``adapter``), not the request."""
    if requested or not isinstance(meta, dict) or not meta.get("adapter"):
        return {}
    return {"adapter": meta["adapter"]}


def _retries(meta: object) -> dict:
    """``attempts`` and ``retry_wait_s`` from a backend's meta (hosted backends retry), and the
    ``deployment`` that answered (a model served by several), if any."""
    if not isinstance(meta, dict):
        return {}
    return {k: meta[k] for k in ("attempts", "retry_wait_s", "deployment") if k in meta}


def _hit(meta: object) -> bool:
    """Whether the reply came from the call cache (``meta["cache_hit"]``)."""
    return isinstance(meta, dict) and bool(meta.get("cache_hit", False))
