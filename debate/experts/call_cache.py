"""An opt-in cache of model calls, so a rerun or rejudge replays identical calls without compute.

Keys are content-addressed: the model name, the parts of its spec that change outputs, the
adapter (none yet), the request kind and every request parameter (prompt, prefix, max_tokens,
temperature, stop, seed; continuations for scores). Sampling at temperature > 0 is cached too:
given the seed it is deterministic, and the seed is in the key. The request's ``role`` is left
out: it never changes the model input (only scripted backends read it).

Hits carry ``meta["cache_hit"] = True`` (``Generation.meta``, or ``CachedScores.meta``), which
``RecordingBackend`` writes into each call record's params.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from debate.core.usage import Usage
from debate.experts.backend import Backend, GenerateRequest, Generation, ScoreRequest, Scores
from debate.storage.call_cache_store import CallCacheStore

CacheMode = Literal["use", "refresh", "off"]
KEY_VERSION = 1
"""Bump to invalidate every stored key when the key's recipe changes."""


class CachedScores(Scores):
    """``Scores`` with a ``meta`` dict (``cache_hit``; a hosted backend's retry record passes through)."""

    meta: dict[str, Any] = {}


def call_key(model: str, spec: dict[str, Any], kind: str, params: dict[str, Any], adapter: str | None = None) -> str:
    blob = json.dumps({"v": KEY_VERSION, "model": model, "spec": spec, "adapter": adapter, "kind": kind, "params": params},
                      sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def generate_params(r: GenerateRequest) -> dict[str, Any]:
    return {"prompt": r.prompt, "prefix": r.prefix, "max_tokens": r.max_tokens, "temperature": r.temperature,
            "stop": list(r.stop), "seed": r.seed}


def score_params(r: ScoreRequest) -> dict[str, Any]:
    return {"prompt": r.prompt, "prefix": r.prefix, "continuations": list(r.continuations)}


class CachingBackend:
    """Wraps ``inner``: ``use`` reads then writes, ``refresh`` only writes (calls always go
    through), ``off`` passes every call straight through. Errors are never cached, and neither
    are generations that ended in ``finish_reason == "error"``."""

    def __init__(self, inner: Backend, store: CallCacheStore, mode: CacheMode = "use", *,
                 spec: dict[str, Any] | None = None, adapter: str | None = None, name: str | None = None) -> None:
        self.inner = inner
        self.name = name or inner.name
        self.store = store
        self.mode = mode
        self.spec = spec or {}
        self.adapter = adapter
        self.hits = 0
        self.misses = 0

    def _key(self, kind: str, params: dict[str, Any], adapter: str | None = None) -> str:
        return call_key(self.name, self.spec, kind, params, adapter or self.adapter)

    async def generate(self, request: GenerateRequest) -> Generation:
        if self.mode == "off":
            return await self.inner.generate(request)
        key = self._key("generate", generate_params(request), request.adapter)
        if self.mode == "use" and (raw := await self.store.aget(key)) is not None:
            self.hits += 1
            gen = Generation.model_validate_json(raw)
            return gen.model_copy(update={"meta": {**gen.meta, "cache_hit": True}})
        self.misses += 1
        gen = await self.inner.generate(request)
        if gen.finish_reason != "error":
            stored = gen.model_copy(update={"meta": {k: v for k, v in gen.meta.items() if k not in _CALL_META}})
            await self.store.aput(key, self.name, "generate", stored.model_dump_json())
        return gen.model_copy(update={"meta": {**gen.meta, "cache_hit": False}})

    async def score(self, request: ScoreRequest) -> Scores:
        if self.mode == "off":
            return await self.inner.score(request)
        key = self._key("score", score_params(request), request.adapter)
        if self.mode == "use" and (raw := await self.store.aget(key)) is not None:
            self.hits += 1
            data = json.loads(raw)
            return CachedScores(logprobs=data["logprobs"], usage=Usage.model_validate(data["usage"]), meta={"cache_hit": True})
        self.misses += 1
        scores = await self.inner.score(request)
        await self.store.aput(key, self.name, "score", json.dumps(
            {"logprobs": scores.logprobs, "usage": scores.usage.model_dump(mode="json")}))
        meta = dict(getattr(scores, "meta", None) or {})
        return CachedScores(logprobs=scores.logprobs, usage=scores.usage, meta={**meta, "cache_hit": False})

    def cost(self, usage: Usage) -> float:
        return self.inner.cost(usage)


_CALL_META = ("attempts", "retry_wait_s", "cache_hit", "deployment")
"""Meta about one call, not about its reply: not stored, so a hit does not report old retries."""
