"""Finding the expert library behind a run's wrapped backend, and embedding through it.

A run wraps each model (``RecordingBackend(LimitedBackend(CachingBackend(LocalBackend)))``);
the wrappers speak only ``generate``/``score``, so the library (``expert_manifests``) and the
base model's pooled hidden states (``embed``) are reached by walking ``.inner``.
"""

from __future__ import annotations

import time
from typing import Any, Protocol, runtime_checkable

from debate.core.usage import CallRecord, Usage
from debate.experts.library.manifest import ExpertManifest
from debate.experts.routing.base import Embed


@runtime_checkable
class ExpertHost(Protocol):
    """A model with a LoRA-expert library (``LocalBackend(path, library=...)``)."""

    def expert_manifests(self) -> list[ExpertManifest]: ...

    async def embed(self, texts: list[str]) -> list[list[float]]: ...


class NoExpertLibrary(ValueError):
    """The model a routed protocol was given serves no experts."""


def _chain(backend: Any) -> list[Any]:
    out, seen = [], set()
    while backend is not None and id(backend) not in seen:
        out.append(backend)
        seen.add(id(backend))
        backend = getattr(backend, "inner", None)
    return out


def expert_host(backend: Any) -> ExpertHost | None:
    """The first object along ``backend.inner.inner…`` that serves an expert library, or None."""
    for b in _chain(backend):
        if callable(getattr(b, "expert_manifests", None)) and callable(getattr(b, "embed", None)):
            return b
    return None


def require_experts(backend: Any) -> tuple[ExpertHost, list[ExpertManifest]]:
    """The host and its experts; ``NoExpertLibrary`` names the model when there are none."""
    host = expert_host(backend)
    experts = host.expert_manifests() if host is not None else []
    if host is None or not experts:
        name = getattr(backend, "name", "?")
        raise NoExpertLibrary(
            f"model {name!r} has no expert library: routed protocols need a local model with 'library:' "
            "in its models: entry (e.g. {backend: local, model: embedded, library: shipped})"
        )
    return host, experts


def recorded_embed(backend: Any, host: ExpertHost) -> Embed:
    """``host.embed`` that also stores the call: routing a question is a forward pass, and the
    compute a strategy spends must include it. The record goes to the episode's recorder (the
    first wrapper in the chain with an ``on_call``) with purpose ``embed`` and role ``router``;
    its prompt tokens come from the host's tokenizer when it has one."""
    recorder = next((b for b in _chain(backend) if callable(getattr(b, "on_call", None))), None)

    async def embed(texts: list[str]) -> list[list[float]]:
        t0 = time.perf_counter()
        vectors = await host.embed(texts)
        if recorder is not None:
            count = getattr(host, "count_tokens", None)
            usage = Usage(prompt_tokens=sum(count(t) for t in texts) if callable(count) else 0)
            await recorder.on_call(CallRecord(
                model=getattr(recorder, "name", ""), purpose="embed", role="router", prompt="\n\n".join(texts),
                reply=f"{len(vectors)} × {len(vectors[0]) if vectors else 0}-d pooled hidden state",
                usage=usage, latency_s=time.perf_counter() - t0, cost_usd=backend.cost(usage) if hasattr(backend, "cost") else 0.0,
                params={"texts": len(texts), "cache_hit": False},
            ))
        return vectors

    return embed
